#!/usr/bin/env node
// Load a TF.js graph model from disk and run it with the pure-JS @tensorflow/tfjs.
//
// usage: node run_graph_model.js MODEL_JSON INPUTS_JSON OUTPUTS_JSON
//   INPUTS_JSON:  {"inputs": {KEY: {"dtype", "shape", "data"}}, "outputs": [KEY, ...]}
//                 (input and output keys of the model's signature, or node names)
//   OUTPUTS_JSON: {"outputs": [{"dtype", "shape", "data"}, ...]} in the order asked for
// usage: node run_graph_model.js --mapped-ops OPS_JSON RESULT_JSON
//   OPS_JSON:     ["Add", "Svd", ...]; RESULT_JSON: the ones loadGraphModel's op mapper knows
//
// Weights are loaded as the browser and file loaders do (every weightsManifest path, in order,
// relative to model.json, concatenated), then tf.loadGraphModel(tf.io.fromMemory(artifacts)).
// The model runs with executeAsync, which also handles control flow (loops, conditionals).
'use strict';

const fs = require('fs');
const path = require('path');

const tf = require('@tensorflow/tfjs');
const {toTensor, encode} = require('./run_many.js');

tf.env().set('PROD', true);

function readBuffer(file) {
  const b = fs.readFileSync(file);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

async function loadGraph(modelJSON, dir) {
  const loadWeights = async (manifest) => {
    const specs = [];
    const parts = [];
    for (const group of manifest) {
      for (const p of group.paths) parts.push(new Uint8Array(readBuffer(path.join(dir, p))));
      specs.push(...group.weights);
    }
    const total = parts.reduce((n, b) => n + b.byteLength, 0);
    const all = new Uint8Array(total);
    let offset = 0;
    for (const b of parts) {
      all.set(b, offset);
      offset += b.byteLength;
    }
    return [specs, all.buffer];
  };
  const artifacts = await tf.io.getModelArtifactsForJSON(modelJSON, loadWeights);
  return tf.loadGraphModel(tf.io.fromMemory(artifacts));
}

async function run(modelJsonPath, inputsPath, outputsPath) {
  const modelJSON = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8'));
  const model = await loadGraph(modelJSON, path.dirname(modelJsonPath));
  const job = JSON.parse(fs.readFileSync(inputsPath, 'utf8'));
  const feeds = {};
  Object.entries(job.inputs).forEach(([key, spec], i) => {
    feeds[key] = toTensor(spec, i);
  });
  const result = await model.executeAsync(feeds, job.outputs);
  const list = Array.isArray(result) ? result : [result];
  const outputs = list.map((t) => ({
    dtype: t.dtype, shape: t.shape, data: Array.from(t.dataSync(), encode),
  }));
  fs.writeFileSync(outputsPath, JSON.stringify({outputs}));
}

// Which ops the op mapper maps: load a graph with one input-less node per op and look at the
// category the mapper gave each node (undefined for ops it does not know).
async function mappedOps(opsPath, resultPath) {
  const ops = JSON.parse(fs.readFileSync(opsPath, 'utf8'));
  const node = ops.map((op, i) => ({name: `n${i}`, op, attr: {}}));
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: {node, versions: {producer: 1}}, weightSpecs: [],
    weightData: new ArrayBuffer(0), format: 'graph-model'}));
  const nodes = model.executor.graph.nodes;
  const known = ops.filter((op, i) => nodes[`n${i}`] && nodes[`n${i}`].category != null);
  fs.writeFileSync(resultPath, JSON.stringify(known));
}

const args = process.argv.slice(2);
const main = args[0] === '--mapped-ops' ? () => mappedOps(args[1], args[2]) :
                                          () => run(args[0], args[1], args[2]);
main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`run_graph_model.js: ${err instanceof Error ? err.stack : err}\n`);
      process.exit(1);
    });
