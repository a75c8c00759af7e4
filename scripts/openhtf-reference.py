"""Write OpenHTF test records with the real openhtf package, for test/control/openhtf.test.ts.

openhtf is not packaged in Debian and this project cannot reach PyPI, so it runs from an openhtf
source tree (OPENHTF_SRC, the folder holding openhtf/) on Debian's python3-attr, -colorama,
-inflection, -yaml, -protobuf, -contextlib2 and -typing-extensions. Its one other dependency,
mutablerecords, is not in Debian either: openhtf.util.data only uses `records.RecordClass` in an
isinstance check, so a one-class stand-in is put on the path (it makes no record of ours one).

  python3 scripts/openhtf-reference.py OUT_DIR

writes OUT_DIR/record-fail.json (a limit failed) and OUT_DIR/record-error.json (a phase raised),
through openhtf's own json_factory.OutputToJSON. Afterwards `log_records` is emptied and a
traceback's `exc_tb` replaced: they quote lines of openhtf's own source, which this repository
does not carry. Every other byte is openhtf's.
"""
import os
import sys
import tempfile

out_dir = sys.argv[1]
stub = tempfile.mkdtemp()
os.makedirs(os.path.join(stub, 'mutablerecords'))
open(os.path.join(stub, 'mutablerecords', '__init__.py'), 'w').close()
with open(os.path.join(stub, 'mutablerecords', 'records.py'), 'w') as f:
    f.write('class RecordClass(object):\n    pass\n')
sys.path[:0] = [os.environ.get('OPENHTF_SRC', '.'), stub]

import openhtf as htf  # noqa: E402
from openhtf.output.callbacks import json_factory  # noqa: E402
from openhtf.util import units  # noqa: E402


@htf.measures(
    htf.Measurement('run_mean_ma').in_range(20, 50).with_units(units.MILLIAMPERE),
    htf.Measurement('fw').equals('1.2.0'),
)
def boot_current(test):
    test.measurements.run_mean_ma = 31.5
    test.measurements.fw = '1.2.0'


@htf.measures(htf.Measurement('temp_c').in_range(maximum=60).with_units(units.DEGREE_CELSIUS))
def temperature(test):
    test.measurements.temp_c = 71.0


def console(test):
    raise RuntimeError('console port error')


def run(name, phases, dut):
    test = htf.Test(*phases, test_name='widget production test')
    test.add_output_callbacks(json_factory.OutputToJSON(os.path.join(out_dir, name), indent=2))
    test.execute(test_start=lambda: dut)


run('record-fail.json', [boot_current, temperature], 'WG000001')
run('record-error.json', [boot_current, console], 'WG000002')

import json  # noqa: E402

for name in ('record-fail.json', 'record-error.json'):
    path = os.path.join(out_dir, name)
    with open(path) as f:
        record = json.load(f)
    record['log_records'] = []
    for phase in record['phases']:
        result = phase.get('result', {}).get('phase_result')
        if isinstance(result, dict) and 'exc_tb' in result:
            result['exc_tb'] = '(traceback removed)'
    with open(path, 'w') as f:
        json.dump(record, f, indent=2)
        f.write('\n')
    os.chmod(path, 0o644)
