import { SerialPort } from 'serialport';
import { ConsoleError } from './dut-console.js';

/*
 * The simulated twin's end of the console: a simulated device's UART attached to the far end of
 * a pty, so the station's SerialConsole talks to it through a real serial port.
 */

/** The byte-level UART of a simulated device (DutFirmware implements it). */
export interface UartPeer {
  /** Bytes arriving at the device's RX pin. */
  receive(data: Uint8Array): void;
  /** Bytes the device transmits; returns an unsubscribe function. */
  onTransmit(listener: (data: Uint8Array) => void): () => void;
}

export interface UartLink {
  close(): Promise<void>;
}

/** Connect a simulated UART to one end of a pty (opened with serialport, raw, non-blocking). */
export async function connectUart(peer: UartPeer, path: string, baudRate = 115200): Promise<UartLink> {
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) =>
    port.open((error) => (error ? reject(new ConsoleError('OPEN_FAILED', path, `cannot open the DUT end: ${error.message}`, { cause: error })) : resolve())),
  );
  const onData = (chunk: Buffer): void => peer.receive(new Uint8Array(chunk));
  port.on('data', onData);
  // A DUT-side write error (pty gone during teardown) must not crash the process.
  port.on('error', () => undefined);
  const unsubscribe = peer.onTransmit((data) => {
    if (port.isOpen) port.write(Buffer.from(data));
  });
  return {
    close: async () => {
      unsubscribe();
      port.off('data', onData);
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    },
  };
}
