#!/usr/bin/env node
// modelport verify's TF.js runtime: load a TF.js layers or graph model from disk with the
// pure-JS @tensorflow/tfjs (as a browser would, every shard concatenated in manifest order),
// run it on the given inputs and write its outputs.
//
// usage: node runner.js JOB_JSON
// JOB_JSON: {"model": "/abs/model.json", "inputs": [{"name", "dtype", "shape", "file"}],
//            "outdir": "/abs/dir", "layers": false}
//   with "layers" true, a layers model's outputs are every layer's, named by layer.
//   each input file holds the raw little-endian values (float32 or int32; bool as int32).
// writes OUTDIR/outputs.json: {"kind": "layers"|"graph", "tfjs": VERSION,
//   "outputs": [{"name", "dtype", "shape", "file"}]} with raw files beside it.
// Errors: one line "STAGE: Name: message" on stderr (STAGE load or run), exit code 3.
'use strict';

const fs = require('fs');
const path = require('path');

const tf = require('@tensorflow/tfjs');

tf.env().set('PROD', true);

class StageError extends Error {
  constructor(stage, err) {
    super(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    this.stage = stage;
  }
}

function readBuffer(file) {
  const b = fs.readFileSync(file);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

async function loadArtifacts(modelJsonPath) {
  const modelJSON = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8'));
  const dir = path.dirname(modelJsonPath);
  const loadWeights = async (manifest) => {
    const specs = [];
    const parts = [];
    for (const group of manifest) {
      for (const p of group.paths) parts.push(Buffer.from(readBuffer(path.join(dir, p))));
      specs.push(...group.weights);
    }
    const joined = Buffer.concat(parts);
    return [specs, joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.length)];
  };
  return tf.io.getModelArtifactsForJSON(modelJSON, loadWeights);
}

function isGraph(artifacts) {
  return artifacts.format === 'graph-model' ||
      (artifacts.modelTopology != null && Array.isArray(artifacts.modelTopology.node));
}

function readInput(spec) {
  const raw = readBuffer(spec.file);
  const data = spec.dtype === 'float32' ? new Float32Array(raw) : new Int32Array(raw);
  return tf.tensor(data, spec.shape, spec.dtype === 'bool' ? 'bool' : spec.dtype);
}

function writeOutputs(outdir, names, tensors) {
  return tensors.map((t, i) => {
    let data = t.dataSync();
    // Some kernels hand back int32 data in a tensor labelled float32 (NMS counts in a While
    // loop): write the values the label says, not the raw bits.
    if (t.dtype === 'float32' && !(data instanceof Float32Array)) data = Float32Array.from(data);
    const file = path.join(outdir, `output_${i}.bin`);
    const array = t.dtype === 'bool' ? Int32Array.from(data) : data;
    fs.writeFileSync(file, Buffer.from(array.buffer, array.byteOffset, array.byteLength));
    return {name: names[i], dtype: t.dtype === 'bool' ? 'int32' : t.dtype, shape: t.shape, file};
  });
}

// Every layer's output (layers with one output tensor, called once), named by layer: where a
// corrupted or mistranslated model parts from the original.
function everyLayer(model) {
  const names = [];
  const outputs = [];
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    let output;
    try {
      output = layer.output;
    } catch (err) {
      continue;
    }
    if (Array.isArray(output)) continue;
    names.push(layer.name);
    outputs.push(output);
  }
  return {names, probe: tf.model({inputs: model.inputs, outputs})};
}

async function runLayers(artifacts, inputs, layers) {
  let model;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (err) {
    throw new StageError('load', err);
  }
  try {
    const xs = inputs.map(readInput);
    if (layers) {
      const {names, probe} = everyLayer(model);
      const out = probe.predict(xs.length === 1 ? xs[0] : xs);
      return {names, tensors: Array.isArray(out) ? out : [out]};
    }
    const out = model.predict(xs.length === 1 ? xs[0] : xs);
    const list = Array.isArray(out) ? out : [out];
    return {names: model.outputNames || list.map((_, i) => `output_${i}`), tensors: list};
  } catch (err) {
    throw new StageError('run', err);
  }
}

async function runGraph(artifacts, inputs) {
  let model;
  try {
    model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  } catch (err) {
    throw new StageError('load', err);
  }
  try {
    // Inputs are fed by the signature's keys when the model has a signature (the names a
    // SavedModel's serving_default uses), else by the graph's input node names.
    const feed = {};
    const signature = model.signature && model.signature.inputs;
    for (const spec of inputs) {
      const key = signature && signature[spec.name] ? signature[spec.name].name : spec.name;
      feed[key] = readInput(spec);
    }
    const outputs = model.signature && model.signature.outputs;
    const keys = outputs ? Object.keys(outputs) : model.outputNodes;
    const nodes = outputs ? keys.map((k) => outputs[k].name) : model.outputNodes;
    let result = await model.executeAsync(feed, nodes);
    if (!Array.isArray(result)) result = [result];
    return {names: keys, tensors: result};
  } catch (err) {
    throw new StageError('run', err);
  }
}

async function main() {
  const jobPath = process.argv[2];
  if (!jobPath) throw new Error('usage: node runner.js JOB_JSON');
  const job = JSON.parse(fs.readFileSync(jobPath, 'utf8'));
  let artifacts;
  try {
    artifacts = await loadArtifacts(job.model);
  } catch (err) {
    throw new StageError('load', err);
  }
  const graph = isGraph(artifacts);
  const {names, tensors} = graph ?
      await runGraph(artifacts, job.inputs) : await runLayers(artifacts, job.inputs, job.layers);
  const outputs = writeOutputs(job.outdir, names, tensors);
  fs.writeFileSync(path.join(job.outdir, 'outputs.json'), JSON.stringify(
      {kind: graph ? 'graph' : 'layers', tfjs: tf.version.tfjs, outputs}));
}

function fail(err) {
  const stage = err instanceof StageError ? err.stage : 'run';
  let msg = err instanceof Error ? err.message : String(err);
  if (!(err instanceof StageError) && err instanceof Error) msg = `${err.name}: ${msg}`;
  if (process.env.MODELPORT_JS_STACK && err && err.stack) msg += `\n${err.stack}`;
  process.stderr.write(`${stage}: ${process.env.MODELPORT_JS_STACK ? msg : msg.split('\n')[0]}\n`);
  process.exit(3);
}

process.on('unhandledRejection', fail);
main().then(() => process.exit(0), fail);
