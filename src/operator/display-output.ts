import type { Display } from '../devices/display/display.js';
import type { Screen } from './screens.js';
import { renderScreen } from './render.js';

/**
 * The OLED as one of the panel's outputs: each screen is rendered for the display's glass and
 * sent. A failing display is reported once per outage and never stops the station; the driver
 * reconfigures the panel by itself on the next frame after a bus failure.
 */
export function attachDisplay(source: { on(event: 'screen', listener: (s: Screen) => void): () => void }, display: Display, log: (m: string) => void): () => void {
  let failing = false;
  return source.on('screen', (screen) => {
    const fb = renderScreen(screen, display);
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
