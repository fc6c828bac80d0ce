/**
 * The web console's entry point, bundled for the browser into `ui/console.js` beside the
 * gateway's and the standalone app's main.js (tools/webpack/console.config.js) and
 * served at `/ui` (ConsolePages in the gateway). No framework, no code from elsewhere.
 */
import { sessionKeyStore } from './lib/api';
import { ConsoleApp } from './lib/app';

function boot(): void {
  const root = document.getElementById('app');
  if (!root) return;
  void new ConsoleApp(root, sessionKeyStore(window.sessionStorage)).start();
}

if (document.readyState === 'loading')
  document.addEventListener('DOMContentLoaded', boot);
else boot();
