#!/usr/bin/env node
// Starts the pinned Azurite (node_modules/azurite) as a child process on 127.0.0.1 with explicit
// ports, and makes sure it never outlives whoever started it:
//   node launch.js --blob-port N --queue-port N --table-port N (--in-memory | --location DIR)
//                  [--parent-pid PID] [--cert FILE --key FILE [--oauth basic]]
// With --parent-pid, the launcher polls that process twice a second and stops Azurite and exits
// when it is gone (or when this launcher is re-parented): a test binary or CLI that dies, even by
// SIGKILL, leaves no Azurite behind. SIGTERM, SIGINT and SIGHUP stop Azurite gracefully.
// Always passes --skipApiVersionCheck (current Microsoft SDKs and Storage Explorer send a newer
// API version than Azurite 3.37 accepts) and --disableTelemetry.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

function fail(message, code) {
  process.stderr.write(`azurite launcher: ${message}\n`);
  process.exit(code);
}

const opts = { inMemory: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const value = () => {
    if (i + 1 >= argv.length) fail(`${a} needs a value`, 2);
    return argv[++i];
  };
  switch (a) {
    case '--blob-port': opts.blob = value(); break;
    case '--queue-port': opts.queue = value(); break;
    case '--table-port': opts.table = value(); break;
    case '--location': opts.location = value(); break;
    case '--in-memory': opts.inMemory = true; break;
    case '--parent-pid': opts.parentPid = Number(value()); break;
    case '--cert': opts.cert = value(); break;
    case '--key': opts.key = value(); break;
    case '--oauth': opts.oauth = value(); break;
    default: fail(`unknown argument ${a}`, 2);
  }
}
for (const k of ['blob', 'queue', 'table']) {
  if (!/^\d+$/.test(opts[k] || '')) fail(`--${k}-port N is required`, 2);
}
if (opts.inMemory === Boolean(opts.location)) fail('give exactly one of --in-memory or --location DIR', 2);
if (Boolean(opts.cert) !== Boolean(opts.key)) fail('give both --cert and --key, or neither', 2);
if (opts.oauth && !opts.cert) fail('--oauth needs --cert and --key (bearer tokens only over HTTPS)', 2);
if (opts.oauth && opts.oauth !== 'basic') fail('--oauth takes only basic', 2);

const entry = path.join(__dirname, 'node_modules', 'azurite', 'dist', 'src', 'azurite.js');
if (!fs.existsSync(entry)) fail(`Azurite is not installed: run \`npm ci\` in ${__dirname}`, 3);

const args = [
  entry,
  '--skipApiVersionCheck', '--disableTelemetry', '--silent',
  '--blobHost', '127.0.0.1', '--blobPort', opts.blob,
  '--queueHost', '127.0.0.1', '--queuePort', opts.queue,
  '--tableHost', '127.0.0.1', '--tablePort', opts.table,
];
if (opts.cert) args.push('--cert', opts.cert, '--key', opts.key);
if (opts.oauth) args.push('--oauth', opts.oauth);
if (opts.inMemory) {
  args.push('--inMemoryPersistence');
} else {
  fs.mkdirSync(opts.location, { recursive: true });
  args.push('--location', opts.location);
}

const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
let stopping = false;

function stop() {
  if (stopping) return;
  stopping = true;
  child.kill('SIGTERM');
  // Azurite needs about 1.3 s to shut down; do not wait forever.
  setTimeout(() => child.kill('SIGKILL'), 5000).unref();
}

child.on('error', (e) => fail(`could not start Azurite: ${e.message}`, 4));
child.on('exit', (code, signal) => {
  if (stopping) process.exit(0);
  fail(`Azurite exited unexpectedly (${signal || `code ${code}`})`, code || 1);
});
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, stop);

if (opts.parentPid) {
  const startPpid = process.ppid;
  setInterval(() => {
    if (process.ppid !== startPpid) return stop();
    try {
      process.kill(opts.parentPid, 0);
    } catch (e) {
      if (e.code === 'ESRCH') stop();
    }
  }, 500);
}
