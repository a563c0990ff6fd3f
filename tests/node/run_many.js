#!/usr/bin/env node
// Load and run many TF.js layers models in one Node process (tfjs import + startup cost ~1 s,
// which would dominate thousands of one-model runs), one result per job.
//
// usage: node run_many.js JOBS_JSON RESULTS
//
// JOBS_JSON:    {"jobs": [{"model_json": PATH, "inputs": [{"dtype", "shape", "data"}, ...]}]}
//               (inputs in the model's input order, encoded as for run_layers_model.js)
// RESULTS:      JSON Lines, one line per finished job, in job order:
//               {"job": i, "outputs": [{"dtype", "shape", "data"}, ...]} or
//               {"job": i, "stage": "load"|"run", "error": "Name: message"}
//               (non-finite numbers as the strings "NaN", "Infinity", "-Infinity")
//
// Models are loaded as the browser/http and tfjs-node file loaders do (every weightsManifest
// path, in order, relative to the model.json, concatenated); run_layers_model.js uses the
// same loadModel. A job that throws records its error and
// the batch goes on. Lines are written as jobs finish, so when something kills the process
// (an abort inside tfjs, out of memory) the caller keeps the finished jobs, knows which job
// was running, and can start again after it.
// Required as a module it runs nothing and exports loadModel, toTensor and encode.
'use strict';

const fs = require('fs');
const path = require('path');

const tf = require('@tensorflow/tfjs');

// Silence tfjs' console chatter (the Node.js banner and similar); PROD gates it in 4.22.
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
    throw new Error(`${path.basename(modelJsonPath)} has no modelTopology (not a layers model?)`);
  }
  const dir = path.dirname(modelJsonPath);
  const loadWeights = async (manifest) => {
    const specs = [];
    const buffers = [];
    for (const group of manifest) {
      for (const p of group.paths) buffers.push(readBuffer(path.join(dir, p)));
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

function describe(err) {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

// An error with the stage it happened in: loading the files, or predicting.
class JobError extends Error {
  constructor(stage, err) {
    super(describe(err));
    this.stage = stage;
  }
}

async function runJob(job) {
  let model;
  try {
    model = await loadModel(job.model_json);
  } catch (err) {
    throw new JobError('load', err);
  }
  try {
    // Free every tensor of the job (inputs, intermediates, outputs) before the next one, so a
    // batch of thousands does not grow the heap.
    const result = tf.tidy(() => {
      const inputs = job.inputs.map(toTensor);
      if (inputs.length !== model.inputs.length) {
        throw new Error(`model has ${model.inputs.length} inputs, got ${inputs.length}`);
      }
      const out = model.predict(inputs.length === 1 ? inputs[0] : inputs);
      const list = Array.isArray(out) ? out : [out];
      return list.map((t) => ({
        dtype: t.dtype, shape: t.shape, data: Array.from(t.dataSync(), encode),
      }));
    });
    return {outputs: result};
  } catch (err) {
    throw new JobError('run', err);
  } finally {
    model.dispose();
  }
}

async function main() {
  const [jobsPath, resultsPath] = process.argv.slice(2);
  if (!resultsPath) throw new Error('usage: node run_many.js JOBS_JSON RESULTS');
  const {jobs} = JSON.parse(fs.readFileSync(jobsPath, 'utf8'));
  const fd = fs.openSync(resultsPath, 'w');
  try {
    for (let i = 0; i < jobs.length; i++) {
      let line;
      try {
        line = {job: i, ...(await runJob(jobs[i]))};
      } catch (err) {
        const stage = err instanceof JobError ? err.stage : 'run';
        line = {job: i, stage, error: err instanceof JobError ? err.message : describe(err)};
      }
      fs.writeSync(fd, JSON.stringify(line) + '\n');
    }
  } finally {
    fs.closeSync(fd);
  }
}

if (require.main === module) {
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`run_many.js: ${describe(err)}\n`);
    process.exit(1);
  });
  main().then(
      () => process.exit(0),
      (err) => {
        let msg = describe(err);
        if (process.env.TFJS_STACK && err && err.stack) msg += `\n${err.stack}`;
        process.stderr.write(`run_many.js: ${msg}\n`);
        process.exit(1);
      });
}

module.exports = {loadModel, toTensor, encode};
