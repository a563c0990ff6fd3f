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
// The weight files are read exactly as the browser/http and tfjs-node file loaders do
// (run_many.js's loadModel): every path of every weightsManifest group, in order, relative
// to the model.json's folder, concatenated into one buffer; the specs of all groups
// concatenated.
// On any error: message on stderr, exit code 1.
'use strict';

const fs = require('fs');

function fail(err) {
  // The message first; the JS stack only on request (it is long and rarely useful).
  let msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (process.env.TFJS_STACK && err && err.stack) msg += `\n${err.stack}`;
  process.stderr.write(`run_layers_model.js: ${msg}\n`);
  process.exit(1);
}

process.on('unhandledRejection', fail);

// One loader for both runners: the batch runner's, so that both read models identically.
const {loadModel, toTensor, encode} = require('./run_many');

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
