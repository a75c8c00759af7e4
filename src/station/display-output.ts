import type { Display } from '../devices/display/display.js';
import type { Screen } from '../devices/display/screens.js';
import { renderScreen } from '../devices/display/render.js';

/**
 * The OLED as one of the station's outputs: each screen the station shows is rendered and sent.
 * A failing display is reported once per outage and never stops the station; the driver
 * reconfigures the panel by itself on the next frame after a bus failure.
 */
export function attachDisplay(source: { on(event: 'screen', listener: (s: Screen) => void): () => void }, display: Display, log: (m: string) => void): () => void {
  let failing = false;
  return source.on('screen', (screen) => {
    const fb = renderScreen(screen);
    void (async () => {
      try {
        await display.show(fb);
        if (failing) log('display: answering again');
        failing = false;
      } catch (err) {
        if (!failing) log(`display: ${(err as Error).message}`);
        failing = true;
      }
    })();
  });
}
