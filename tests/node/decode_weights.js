#!/usr/bin/env node
// Decode the weights of a TF.js model.json with tfjs-core's own tf.io.decodeWeights, as
// tf.loadLayersModel does before it assigns them (dequantization included).
//
// usage: node decode_weights.js MODEL_JSON_OR_WEIGHTS_MANIFEST OUTPUT_JSON
// OUTPUT_JSON: {"weights": [{"name", "dtype", "shape", "data"}]}; string elements are given
// as base64 of their bytes.
'use strict';

const fs = require('fs');
const path = require('path');

function fail(err) {
  process.stderr.write(`decode_weights.js: ${err instanceof Error ? err.message : err}\n`);
  process.exit(1);
}
process.on('unhandledRejection', fail);

const tf = require('@tensorflow/tfjs');
tf.env().set('PROD', true);

try {
  const modelJsonPath = process.argv[2];
  const parsed = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8'));
  // A model.json carries its manifest; a bare weights manifest (tf.io.loadWeights) is one.
  const manifest = Array.isArray(parsed) ? parsed : parsed.weightsManifest;
  const dir = path.dirname(modelJsonPath);
  const out = [];
  for (const group of manifest) {
    const parts = group.paths.map((p) => fs.readFileSync(path.join(dir, p)));
    const joined = Buffer.concat(parts);
    const buffer = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
    const tensors = tf.io.decodeWeights(buffer, group.weights);
    for (const spec of group.weights) {
      const t = tensors[spec.name];
      let data = t.dataSync();
      if (t.dtype === 'string') {
        data = Array.from(data, (bytes) => Buffer.from(bytes).toString('base64'));
      } else {
        data = Array.from(data, (v) => (Number.isFinite(v) ? v : String(v)));
      }
      out.push({name: spec.name, dtype: t.dtype, shape: t.shape, data});
    }
  }
  fs.writeFileSync(process.argv[3], JSON.stringify({weights: out}));
} catch (err) {
  fail(err);
}
