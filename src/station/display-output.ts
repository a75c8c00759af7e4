import type { Display } from '../devices/display/display.js';
import type { Screen } from '../devices/display/screens.js';
import { renderScreen } from '../devices/display/render.js';

/**
 * The OLED as one of the station's outputs: each screen the station shows is rendered and sent.
 * A failing display is reported (once per outage) and retried with a fresh init on the next
 * screen; it never stops the station.
 */
export function attachDisplay(source: { on(event: 'screen', listener: (s: Screen) => void): () => void }, display: Display, log: (m: string) => void): () => void {
  let needsInit = false;
  let failing = false;
  return source.on('screen', (screen) => {
    const fb = renderScreen(screen);
    void (async () => {
      try {
        if (needsInit) await display.init();
        needsInit = false;
        await display.show(fb);
        if (failing) log('display: answering again');
        failing = false;
      } catch (err) {
        needsInit = true;
        if (!failing) log(`display: ${(err as Error).message}`);
        failing = true;
      }
    })();
  });
}
