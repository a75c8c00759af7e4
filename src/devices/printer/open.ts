import type { LabelConfig } from '../../config/station.js';
import type { LabelPrinter } from './printer.js';
import { TcpZplPrinter } from './zpl-tcp.js';
import { UsbZplPrinter } from './zpl-usb.js';

/** Where the printer is: the station's `label.connection`, or the virtual jig's simulated printer. */
export type PrinterConnection = LabelConfig['connection'];

/** The printer adapter for a connection (plain fs and net: no hardware library to load). */
export function openPrinter(connection: PrinterConnection, label: Pick<LabelConfig, 'deadlines' | 'status_query'>): LabelPrinter {
  const deadlines = { connectMs: label.deadlines.connect_ms, writeMs: label.deadlines.write_ms, statusMs: label.deadlines.status_ms };
  if ('usb' in connection) return new UsbZplPrinter({ path: connection.usb, deadlines, statusQuery: label.status_query });
  const at = connection.tcp.lastIndexOf(':');
  return new TcpZplPrinter({ host: connection.tcp.slice(0, at), port: Number(connection.tcp.slice(at + 1)), deadlines, statusQuery: label.status_query });
}
