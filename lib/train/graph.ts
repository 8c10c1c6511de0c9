/**
 * A TF.js LayersModel as one flat graph of layer calls (nested models inlined), and a runner for
 * any part of it. train() uses it to run the frozen part of a model outside the gradient tape,
 * or once for a cache, and the rest on the tape, with the very calls model.apply makes:
 * TF.js's executor (tfjs-layers 4.22 engine/executor.ts) calls `layer.apply(inputs, kwargs)` for
 * each node in topological order with the caller's kwargs, and so does runNodes.
 */
import * as tf from '@tensorflow/tfjs';
import { isLayersModel, layerSegment } from '../model/weights';

type Layer = tf.layers.Layer;

/** A tensor of the graph: a model input or one output of a node. */
export interface GraphTensor {
  id: number;
  /** Shape with null for the batch (and any free) dimension. */
  shape: Array<number | null>;
  dtype: tf.DataType;
  producer: GraphNode | undefined;
  consumers: GraphNode[];
}

/** One call of a layer. */
export interface GraphNode {
  id: number;
  layer: Layer;
  /** Layer key (structural key prefix of its weights): `layer1.0.conv1`, `3`. */
  key: string;
  inputs: GraphTensor[];
  outputs: GraphTensor[];
}

/** A model as a graph: nodes in an order where every node comes after the nodes it reads. */
export interface ModelGraph {
  inputs: GraphTensor[];
  /** The model's input names (what a map of inputs is keyed by). */
  inputNames: string[];
  outputs: GraphTensor[];
  nodes: GraphNode[];
}

/** Why a model's graph cannot be run piecewise (train() then runs model.apply whole). */
export class GraphUnsupported extends Error {}

interface SymbolicLike {
  id: number;
  shape: Array<number | null>;
  dtype: tf.DataType;
  sourceLayer: Layer;
  nodeIndex: number;
  tensorIndex: number;
}

interface NodeLike {
  inputTensors: SymbolicLike[];
  outputTensors: SymbolicLike[];
}

/** The flat graph of `model`; throws GraphUnsupported when it cannot be run node by node exactly as model.apply runs it. */
export function modelGraph(model: tf.LayersModel): ModelGraph {
  const m = model as unknown as { inputs?: SymbolicLike[]; outputs?: SymbolicLike[]; inputNames?: string[] };
  if (!Array.isArray(m.inputs) || !Array.isArray(m.outputs) || m.inputs.length === 0 || m.outputs.length === 0) {
    throw new GraphUnsupported('the model is not built yet (give its first layer an inputShape, or call it once)');
  }
  let nextId = 0;
  const nodes: GraphNode[] = [];
  const newTensor = (s: SymbolicLike, producer: GraphNode | undefined): GraphTensor => ({ id: nextId++, shape: [...s.shape], dtype: s.dtype, producer, consumers: [] });
  const inputs = m.inputs.map((s) => newTensor(s, undefined));
  const outputs = inline(model, '', inputs);
  return { inputs, inputNames: m.inputNames ?? m.inputs.map((_, i) => `input${i}`), outputs, nodes };

  /** Adds the nodes of `container` (its inputs bound to `bound`) and returns its outputs. */
  function inline(container: tf.LayersModel, prefix: string, bound: GraphTensor[]): GraphTensor[] {
    const c = container as unknown as { inputs: SymbolicLike[]; outputs: SymbolicLike[] };
    const segment = new Map<Layer, string>();
    container.layers.filter((l) => l.getClassName() !== 'InputLayer').forEach((l, i) => segment.set(l, prefix + layerSegment(l, i)));
    const map = new Map<number, GraphTensor>();
    c.inputs.forEach((s, i) => {
      if (bound[i].dtype !== s.dtype && prefix !== '') throw new GraphUnsupported(`nested model '${prefix.slice(0, -1)}' takes ${s.dtype} where its caller gives ${bound[i].dtype}`);
      map.set(s.id, bound[i]);
    });
    // Depth-first from the outputs: a node is placed after every node it reads.
    const done = new Set<NodeLike>();
    const visit = (s: SymbolicLike): void => {
      if (map.has(s.id)) return;
      const layer = s.sourceLayer;
      const node = (layer as unknown as { inboundNodes: NodeLike[] }).inboundNodes[s.nodeIndex];
      if (!node) throw new GraphUnsupported(`tensor ${s.id} of layer '${layer.name}' has no producing call`);
      if (done.has(node)) return;
      const stack: Array<{ node: NodeLike; layer: Layer; next: number }> = [{ node, layer, next: 0 }];
      while (stack.length > 0) {
        const top = stack[stack.length - 1];
        if (top.next < top.node.inputTensors.length) {
          const input = top.node.inputTensors[top.next++];
          if (map.has(input.id)) continue;
          const inLayer = input.sourceLayer;
          if (inLayer.getClassName() === 'InputLayer') throw new GraphUnsupported(`input '${inLayer.name}' of ${prefix ? `nested model '${prefix.slice(0, -1)}'` : 'the model'} is not one of its inputs`);
          const inNode = (inLayer as unknown as { inboundNodes: NodeLike[] }).inboundNodes[input.nodeIndex];
          if (done.has(inNode)) continue;
          if (stack.some((f) => f.node === inNode)) throw new GraphUnsupported('the graph has a cycle');
          stack.push({ node: inNode, layer: inLayer, next: 0 });
          continue;
        }
        stack.pop();
        done.add(top.node);
        emit(top.node, top.layer);
      }
    };
    const emit = (node: NodeLike, layer: Layer): void => {
      const ins = node.inputTensors.map((s) => {
        const t = map.get(s.id);
        if (!t) throw new GraphUnsupported(`layer '${layer.name}' reads a tensor that is computed nowhere`);
        return t;
      });
      const key = segment.get(layer) ?? `${prefix}${layer.name}`;
      if (isLayersModel(layer)) {
        const outs = inline(layer, `${key}.`, ins);
        node.outputTensors.forEach((s, i) => map.set(s.id, outs[i]));
        return;
      }
      checkSupported(layer, key);
      const g: GraphNode = { id: nodes.length, layer, key, inputs: ins, outputs: [] };
      g.outputs = node.outputTensors.map((s) => newTensor(s, g));
      for (const t of ins) t.consumers.push(g);
      nodes.push(g);
      node.outputTensors.forEach((s, i) => map.set(s.id, g.outputs[i]));
    };
    for (const s of c.outputs) visit(s);
    return c.outputs.map((s) => map.get(s.id) as GraphTensor);
  }
}

/** Layers whose masks change what later layers compute: runNodes carries no masks, so such a graph runs whole. */
function checkSupported(layer: Layer, key: string): void {
  const cls = layer.getClassName();
  let config: { maskZero?: boolean } = {};
  try {
    config = layer.getConfig() as { maskZero?: boolean };
  } catch {
    // A custom layer without a config cannot make a mask through maskZero.
  }
  if (cls === 'Masking' || (cls === 'Embedding' && config.maskZero === true)) throw new GraphUnsupported(`layer '${key}' (${cls}) makes a mask`);
  if ((layer as unknown as { activityRegularizer?: unknown }).activityRegularizer) throw new GraphUnsupported(`layer '${key}' has an activity regularizer`);
}

/** Values of graph tensors during a run, by tensor id. */
export type TensorValues = Map<number, tf.Tensor>;

/** Feeds the graph's inputs, cast to the dtype each input declares (as TF.js's FeedDict does). */
export function feedInputs(graph: ModelGraph, inputs: tf.Tensor[], values: TensorValues = new Map()): TensorValues {
  graph.inputs.forEach((g, i) => values.set(g.id, g.dtype && inputs[i].dtype !== g.dtype ? tf.cast(inputs[i], g.dtype) : inputs[i]));
  return values;
}

/** Runs `nodes` (in graph order) on `values`, adding their outputs; what model.apply(x, { training }) does node by node. */
export function runNodes(nodes: readonly GraphNode[], values: TensorValues, training: boolean): void {
  for (const node of nodes) {
    const ins = node.inputs.map((t) => {
      const v = values.get(t.id);
      if (v === undefined) throw new Error(`train: internal: layer '${node.key}' runs before its input is computed`);
      return v;
    });
    const out = node.layer.apply(ins, { training });
    const list = Array.isArray(out) ? out : [out];
    node.outputs.forEach((t, i) => values.set(t.id, list[i] as tf.Tensor));
  }
}

/** The nodes needed to compute `targets` from `given` (tensors already known), in graph order. */
export function nodesBetween(graph: ModelGraph, given: Iterable<GraphTensor>, targets: Iterable<GraphTensor>): GraphNode[] {
  const known = new Set<GraphTensor>(given);
  const need = new Set<GraphNode>();
  const stack = [...targets].filter((t) => !known.has(t));
  const seen = new Set<GraphTensor>(stack);
  while (stack.length > 0) {
    const t = stack.pop() as GraphTensor;
    if (!t.producer) throw new Error('train: internal: a graph input is needed but not given');
    if (need.has(t.producer)) continue;
    need.add(t.producer);
    for (const i of t.producer.inputs) {
      if (known.has(i) || seen.has(i)) continue;
      seen.add(i);
      stack.push(i);
    }
  }
  return graph.nodes.filter((n) => need.has(n));
}
