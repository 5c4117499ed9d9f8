'use strict';

// Runs every tricky module and prints what it computed; the output must not change when the
// tree is instrumented, with telemetry off or on.

const strict = require('./strict.js');
const sloppy = require('./sloppy.js');
const arrows = require('./arrows.js');
const classes = require('./classes.js');
const gens = require('./generators.js');
const asi = require('./asi.js');
const loops = require('./loops.js');
const ownTel = require('./own_tel.js');
const stack = require('./stack.js');
const legacy = require('./esm/legacy.cjs');

async function main() {
  console.log('strict:', strict());
  console.log('sloppy:', sloppy());
  console.log('arrows:', JSON.stringify(await arrows()));
  console.log('classes:', JSON.stringify(classes()));
  console.log('generators:', JSON.stringify(await gens()));
  console.log('asi:', JSON.stringify(asi()));
  console.log('loops:', JSON.stringify(await loops()));
  console.log('own Tel:', ownTel());
  console.log('stack:', stack());
  console.log('legacy:', legacy.describe());
  const esm = await import('./esm/index.js');
  console.log('esm:', JSON.stringify(await esm.run(4)));
  const plain = await import('./plain.mjs');
  console.log('mjs:', plain.default(3), plain.ready);
}

main().then(
  () => console.log('done'),
  (e) => {
    console.log('failed:', e && e.stack);
    process.exitCode = 1;
  },
);
