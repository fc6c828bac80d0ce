#!/usr/bin/env node
/*
 * The Cloud Storage emulator of firebase-tools, alone, for tests:
 *
 *   node gcs-emulator.cjs --port 9199 [--host 127.0.0.1]
 *
 * then point @google-cloud/storage at it with STORAGE_EMULATOR_HOST=http://127.0.0.1:9199.
 * `firebase emulators:start --only storage` needs Java and downloads a rules jar; the
 * storage emulator itself is plain Node, and only its Firebase security rules need the
 * jar. The Cloud Storage JSON API that the SDK speaks is served by its admin storage
 * layer, which never consults rules, so here the rules runtime does nothing and the
 * rules manager allows everything. The emulator keeps objects in memory and in
 * `$TMPDIR/firebase/storage/blobs` (give each instance a TMPDIR of its own).
 *
 * Prints one line `{"ready":true,"host":...,"port":...}` once it listens; SIGTERM and
 * SIGINT stop it.
 */
'use strict';

const { StorageEmulator } = require('firebase-tools/lib/emulator/storage');
const {
  StorageRulesRuntime,
} = require('firebase-tools/lib/emulator/storage/rules/runtime');
const { EmulatorRegistry } = require('firebase-tools/lib/emulator/registry');

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length
    ? process.argv[at + 1]
    : fallback;
}

const host = option('host', '127.0.0.1');
const port = Number(option('port', '9199'));
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write(`invalid --port ${option('port', '')}\n`);
  process.exit(2);
}

// The rules runtime is the Java process; nothing here asks it anything.
StorageRulesRuntime.prototype.start = async () => undefined;
StorageRulesRuntime.prototype.stop = async () => undefined;
const allowAll = {
  verify: async () => ({
    permitted: true,
    issues: { exist: () => false, all: [] },
  }),
};
StorageEmulator.prototype.createRulesManager = () => ({
  start: async () => [],
  stop: async () => undefined,
  getRuleset: () => allowAll,
});

const emulator = new StorageEmulator({
  projectId: 'demo-portfolio',
  host,
  port,
  rules: [],
  auto_download: false,
});
// The emulator builds the URLs it returns (resumable upload sessions, media links)
// from the registry's record of where it listens.
EmulatorRegistry.set('storage', emulator);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  try {
    await emulator.stop();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

emulator.start().then(
  () =>
    process.stdout.write(`${JSON.stringify({ ready: true, host, port })}\n`),
  (error) => {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
