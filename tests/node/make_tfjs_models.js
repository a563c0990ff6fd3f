#!/usr/bin/env node
// Build small models with tfjs-layers itself and save them the way tfjs-node's file handler
// does (OUTDIR/NAME/model.json + OUTDIR/NAME/weights.bin), plus OUTDIR/NAME/io.json holding
// fixed inputs and the outputs TF.js computes on them:
//   {"inputs":  [{"dtype", "shape", "data"}, ...], "outputs": [{"dtype", "shape", "data"}, ...]}
//
// usage: node make_tfjs_models.js OUTDIR
//
// tfjs has no global seed, so every weight is overwritten with values from a fixed LCG via
// model.setWeights (after any training step), so the files are reproducible.
'use strict';

const fs = require('fs');
const path = require('path');

function fail(err) {
  // The message first; the JS stack only on request (it is long and rarely useful).
  let msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (process.env.TFJS_STACK && err && err.stack) msg += `\n${err.stack}`;
  process.stderr.write(`make_tfjs_models.js: ${msg}\n`);
  process.exit(1);
}

process.on('unhandledRejection', fail);

const tf = require('@tensorflow/tfjs');

tf.env().set('PROD', true);

// ---------------------------------------------------------------------------------------------
// Deterministic numbers.

function lcg(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296; // [0, 1)
  };
}

function seedWeights(model, seed) {
  const rand = lcg(seed);
  const values = model.weights.map((w) => {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const name = w.originalName || w.name;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const u = rand();
      if (/moving_variance$/.test(name)) data[i] = 0.5 + u; // positive, non-trivial
      else if (/gamma$/.test(name)) data[i] = 0.75 + 0.5 * u;
      else data[i] = (u - 0.5) * 0.8; // [-0.4, 0.4)
    }
    return tf.tensor(data, w.shape, 'float32');
  });
  model.setWeights(values);
}

function makeInput(spec, rand) {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const data = new Array(n);
  for (let i = 0; i < n; i++) {
    if (spec.dtype === 'int32') data[i] = Math.floor(rand() * spec.vocab);
    else data[i] = Math.fround(rand() * 2 - 1); // float32 in [-1, 1)
  }
  return {dtype: spec.dtype, shape: spec.shape, data};
}

// ---------------------------------------------------------------------------------------------
// Models. Each returns {model, inputs: [{dtype, shape, vocab?}]} (batch 3).

const BATCH = 3;

function mlp() {
  const model = tf.sequential({name: 'mlp'});
  model.add(tf.layers.dense({units: 8, activation: 'relu', inputShape: [4], name: 'hidden'}));
  model.add(tf.layers.dense({units: 3, activation: 'softmax', name: 'probs'}));
  // Compiled, trained one step (so Adam has slot variables) and saved with
  // includeOptimizer: model.json gets a trainingConfig (camelCase optimizer keys) and the
  // manifest gets optimizer weights with group "optimizer".
  model.compile({
    optimizer: tf.train.adam(0.01),
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
  });
  const train = async () => {
    const rand = lcg(7);
    const x = tf.tensor2d(Array.from({length: 6 * 4}, rand), [6, 4]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3);
    await model.fit(x, y, {epochs: 1, batchSize: 6, shuffle: false, verbose: 0});
  };
  model.setUserDefinedMetadata({modelport: {purpose: 'test', labels: ['a', 'b', 'c']}});
  return {model, train, saveConfig: {includeOptimizer: true},
          inputs: [{dtype: 'float32', shape: [BATCH, 4]}]};
}

function cnn() {
  const model = tf.sequential({name: 'cnn'});
  model.add(tf.layers.conv2d({
    filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [6, 6, 2],
  }));
  model.add(tf.layers.batchNormalization({}));
  model.add(tf.layers.maxPooling2d({poolSize: 2}));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({units: 3}));
  model.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
  return {model, saveConfig: {includeOptimizer: true}, inputs: [{dtype: 'float32', shape: [BATCH, 6, 6, 2]}]};
}

function embedding_lstm() {
  const model = tf.sequential({name: 'embedding_lstm'});
  model.add(tf.layers.embedding({inputDim: 10, outputDim: 4, inputShape: [5]}));
  // TF.js defaults recurrentActivation to hard_sigmoid, which Keras 3 defines differently
  // (relu6(x + 3) / 6 instead of clip(0.2 x + 0.5)); use sigmoid so all runtimes agree.
  model.add(tf.layers.lstm({units: 3, recurrentActivation: 'sigmoid'}));
  model.add(tf.layers.dense({units: 2, activation: 'tanh'}));
  return {model, inputs: [{dtype: 'int32', shape: [BATCH, 5], vocab: 10}]};
}

function gru_timedistributed() {
  const model = tf.sequential({name: 'gru_timedistributed'});
  // TF.js GRU only supports reset_after=false (the default in TF.js).
  model.add(tf.layers.gru({
    units: 4, returnSequences: true, recurrentActivation: 'sigmoid', inputShape: [5, 3],
  }));
  model.add(tf.layers.timeDistributed({layer: tf.layers.dense({units: 2})}));
  return {model, inputs: [{dtype: 'float32', shape: [BATCH, 5, 3]}]};
}

function two_input_concat() {
  const a = tf.input({shape: [4], name: 'in_a'});
  const b = tf.input({shape: [3], name: 'in_b'});
  const shared = tf.layers.dense({units: 5, activation: 'tanh', name: 'shared'});
  const ha = shared.apply(a);
  const hb = tf.layers.dense({units: 5, activation: 'elu', name: 'proj_b'}).apply(b);
  const hb2 = shared.apply(tf.layers.dense({units: 4, name: 'lift_b'}).apply(b));
  const cat = tf.layers.concatenate({name: 'cat'}).apply([ha, hb, hb2]);
  const out1 = tf.layers.dense({units: 2, activation: 'softmax', name: 'out1'}).apply(cat);
  const out2 = tf.layers.dense({units: 1, name: 'out2'}).apply(
      tf.layers.add({name: 'sum'}).apply([ha, hb]));
  const model = tf.model({inputs: [a, b], outputs: [out1, out2], name: 'two_input_concat'});
  return {
    model,
    inputs: [{dtype: 'float32', shape: [BATCH, 4]}, {dtype: 'float32', shape: [BATCH, 3]}],
  };
}

function nested_sequential() {
  const inner = tf.sequential({name: 'inner'});
  inner.add(tf.layers.dense({units: 4, activation: 'relu', inputShape: [3], name: 'inner_dense'}));
  inner.add(tf.layers.dense({units: 3, name: 'inner_out'}));
  const x = tf.input({shape: [3], name: 'x'});
  const h = inner.apply(x);
  const h2 = inner.apply(h); // called twice: two inbound nodes of the nested model
  const out = tf.layers.dense({units: 2, name: 'head'}).apply(
      tf.layers.concatenate({name: 'cat'}).apply([h, h2]));
  const model = tf.model({inputs: x, outputs: out, name: 'nested_sequential'});
  return {model, inputs: [{dtype: 'float32', shape: [BATCH, 3]}]};
}

const BUILDERS = {mlp, cnn, embedding_lstm, gru_timedistributed, two_input_concat, nested_sequential};

// ---------------------------------------------------------------------------------------------
// Saving like tfjs-node's file:// handler (tfjs-node/src/io/file_system.ts): model.json is
// getModelJSONForModelArtifacts(artifacts, [{paths: ['weights.bin'], weights: weightSpecs}]).

function joinWeightData(weightData) {
  if (weightData == null) return new ArrayBuffer(0);
  return tf.io.CompositeArrayBuffer.join(weightData);
}

function saveHandlerFor(dir) {
  return tf.io.withSaveHandler(async (artifacts) => {
    fs.mkdirSync(dir, {recursive: true});
    const modelJSON = {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      weightsManifest: [{paths: ['weights.bin'], weights: artifacts.weightSpecs}],
    };
    if (artifacts.signature != null) modelJSON.signature = artifacts.signature;
    if (artifacts.userDefinedMetadata != null) {
      modelJSON.userDefinedMetadata = artifacts.userDefinedMetadata;
    }
    if (artifacts.trainingConfig != null) modelJSON.trainingConfig = artifacts.trainingConfig;
    const weightData = joinWeightData(artifacts.weightData);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJSON));
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(weightData));
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  });
}

async function main() {
  const outdir = process.argv[2];
  if (!outdir) throw new Error('usage: node make_tfjs_models.js OUTDIR');
  const names = Object.keys(BUILDERS);
  let seed = 1;
  for (const name of names) {
    const {model, inputs, train, saveConfig} = BUILDERS[name]();
    if (train) await train();
    seedWeights(model, 1000 + seed);
    const rand = lcg(2000 + seed);
    seed++;
    const inputJSON = inputs.map((spec) => makeInput(spec, rand));
    const tensors = inputJSON.map((s) => tf.tensor(s.data, s.shape, s.dtype));
    let result = model.predict(tensors.length === 1 ? tensors[0] : tensors);
    if (!Array.isArray(result)) result = [result];
    const outputs = [];
    for (const t of result) {
      outputs.push({dtype: t.dtype, shape: t.shape, data: Array.from(await t.data())});
    }
    const dir = path.join(outdir, name);
    await model.save(saveHandlerFor(dir), saveConfig);
    fs.writeFileSync(path.join(dir, 'io.json'), JSON.stringify({inputs: inputJSON, outputs}));
  }
  process.stdout.write(JSON.stringify(names) + '\n');
}

main().then(() => process.exit(0), fail);
