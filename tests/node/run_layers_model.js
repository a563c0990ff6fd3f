#!/usr/bin/env node
// Load a TF.js layers model (model.json + weight files) from disk with the pure-JS
// @tensorflow/tfjs (CPU backend) and run it on inputs given as JSON.
//
// usage: node run_layers_model.js MODEL_JSON INPUTS_JSON OUTPUTS_JSON
//
// INPUTS_JSON:  {"inputs":  [{"dtype": "float32"|"int32", "shape": [...], "data": [...]}, ...]}
//               (in the model's input order)
// OUTPUTS_JSON: {"outputs": [{"dtype": ..., "shape": [...], "data": [...]}, ...]}
//               (in the model's output order; non-finite numbers are written as the strings
//               "NaN", "Infinity", "-Infinity")
//
// The weight files are read exactly as the browser/http and tfjs-node file loaders do:
// every path of every weightsManifest group, in order, relative to the model.json's folder,
// concatenated into one buffer; the weight specs of all groups concatenated.
// On any error: message on stderr, exit code 1.
'use strict';

const fs = require('fs');
const path = require('path');

function fail(err) {
  // The message first; the JS stack only on request (it is long and rarely useful).
  let msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (process.env.TFJS_STACK && err && err.stack) msg += `\n${err.stack}`;
  process.stderr.write(`run_layers_model.js: ${msg}\n`);
  process.exit(1);
}

process.on('unhandledRejection', fail);

const tf = require('@tensorflow/tfjs');

// Silence tfjs' console chatter (the "Hi, looks like you are running TensorFlow.js in
// Node.js" banner and similar). PROD only gates log/warn output in tfjs-core 4.22.
tf.env().set('PROD', true);

function readBuffer(file) {
  const b = fs.readFileSync(file);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

function concatBuffers(buffers) {
  let total = 0;
  for (const b of buffers) total += b.byteLength;
  const out = new Uint8Array(total);
  let off = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b), off);
    off += b.byteLength;
  }
  return out.buffer;
}

async function loadModel(modelJsonPath) {
  const modelJSON = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8'));
  if (modelJSON.modelTopology == null) {
    throw new Error(`${modelJsonPath} has no modelTopology (not a layers model?)`);
  }
  const dir = path.dirname(modelJsonPath);
  const loadWeights = async (manifest) => {
    const specs = [];
    const buffers = [];
    for (const group of manifest) {
      for (const p of group.paths) {
        buffers.push(readBuffer(path.join(dir, p)));
      }
      specs.push(...group.weights);
    }
    return [specs, concatBuffers(buffers)];
  };
  const artifacts = await tf.io.getModelArtifactsForJSON(modelJSON, loadWeights);
  // One-argument (ModelArtifacts) form of fromMemory; the multi-argument form is deprecated.
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

function toTensor(spec, i) {
  const dtype = spec.dtype || 'float32';
  if (dtype !== 'float32' && dtype !== 'int32') {
    throw new Error(`input ${i}: unsupported dtype ${dtype}`);
  }
  const data = spec.data.map((v) => (typeof v === 'string' ? Number(v) : v));
  return tf.tensor(data, spec.shape, dtype);
}

function encode(v) {
  if (Number.isFinite(v)) return v;
  if (Number.isNaN(v)) return 'NaN';
  return v > 0 ? 'Infinity' : '-Infinity';
}

async function main() {
  const [modelJsonPath, inputsPath, outputsPath] = process.argv.slice(2);
  if (!outputsPath) {
    throw new Error('usage: node run_layers_model.js MODEL_JSON INPUTS_JSON OUTPUTS_JSON');
  }
  const model = await loadModel(modelJsonPath);
  const inputsJSON = JSON.parse(fs.readFileSync(inputsPath, 'utf8'));
  const inputs = inputsJSON.inputs.map(toTensor);
  if (inputs.length !== model.inputs.length) {
    throw new Error(`model has ${model.inputs.length} inputs, got ${inputs.length}`);
  }
  let result = model.predict(inputs.length === 1 ? inputs[0] : inputs);
  if (!Array.isArray(result)) result = [result];
  const outputs = [];
  for (const t of result) {
    const data = Array.from(await t.data(), encode);
    outputs.push({dtype: t.dtype, shape: t.shape, data});
  }
  fs.writeFileSync(outputsPath, JSON.stringify({outputs}));
}

main().then(() => process.exit(0), fail);
