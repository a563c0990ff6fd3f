#!/usr/bin/env node
// Decode the weights of many TF.js model.json files (or bare weights manifests) in one Node
// process with tfjs-core's own tf.io.decodeWeights, as tf.loadLayersModel does before it
// assigns them (dequantization included). decode_weights.js does one file; this one saves
// the ~1 s tfjs start-up per file and returns the values bit-exactly.
//
// usage: node decode_many.js FILES_JSON RESULTS
//
// FILES_JSON: {"files": [PATH, ...]}
// RESULTS:    JSON Lines, one per file, in order:
//             {"file": i, "weights": [{"name", "dtype", "shape", "bytes"}]} where "bytes" is
//             the base64 of the decoded typed array's little-endian bytes (float32, int32, or
//             one byte per bool), or for strings a list of base64 strings, one per element;
//             or {"file": i, "error": "message"}.
'use strict';

const fs = require('fs');
const path = require('path');

const tf = require('@tensorflow/tfjs');
tf.env().set('PROD', true);

function decodeFile(file) {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  const manifest = Array.isArray(parsed) ? parsed : parsed.weightsManifest;
  const dir = path.dirname(file);
  const out = [];
  for (const group of manifest) {
    const joined = Buffer.concat(group.paths.map((p) => fs.readFileSync(path.join(dir, p))));
    const buffer = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
    const tensors = tf.io.decodeWeights(buffer, group.weights);
    for (const spec of group.weights) {
      const t = tensors[spec.name];
      const data = t.dataSync();
      let bytes;
      if (t.dtype === 'string') {
        bytes = Array.from(data, (b) => Buffer.from(b).toString('base64'));
      } else {
        bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
      }
      out.push({name: spec.name, dtype: t.dtype, shape: t.shape, bytes});
      t.dispose();
    }
  }
  return out;
}

const [filesPath, resultsPath] = process.argv.slice(2);
if (!resultsPath) {
  process.stderr.write('usage: node decode_many.js FILES_JSON RESULTS\n');
  process.exit(1);
}
const {files} = JSON.parse(fs.readFileSync(filesPath, 'utf8'));
const fd = fs.openSync(resultsPath, 'w');
files.forEach((file, i) => {
  let line;
  try {
    line = {file: i, weights: decodeFile(file)};
  } catch (err) {
    line = {file: i, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err)};
  }
  fs.writeSync(fd, JSON.stringify(line) + '\n');
});
fs.closeSync(fd);
