/**
 * Where the frozen part of a model ends. Two cuts through the model's graph:
 *
 * - the tape boundary: tensors that depend on no trained weight. Everything before it runs
 *   outside the gradient tape (same calls, same training flag), so its activations are not kept
 *   for a backward pass that would never use them;
 * - the cache cut: tensors that depend on no trained weight and on no layer that is random in
 *   training (Dropout, GaussianNoise, ...) or updates state (BatchNorm not frozen in inference
 *   mode). Their values for an example never change during the run, so train() may compute them
 *   once. The cut is a set of tensors: a residual block whose branch is trained puts its input
 *   (the skip connection) in the cut, never half of the block.
 */
import type * as tf from '@tensorflow/tfjs';
import { isBatchNorm, isBatchNormFrozen } from '../freeze/batchnorm';
import { randomnessOf } from '../freeze/determinism';
import { nodesBetween, type GraphNode, type GraphTensor, type ModelGraph } from './graph';

/** The model's graph cut for one set of trained weights. */
export interface Split {
  graph: ModelGraph;
  /** Tensors a cache holds: the last ones the frozen, deterministic prefix computes (graph inputs where no layer is cacheable). */
  cut: GraphTensor[];
  /** Nodes that compute the cut from the inputs (run once, in inference mode, for a cache). */
  cacheNodes: GraphNode[];
  /** Why the cacheable prefix ends where it does (or why there is none). */
  cacheLimit: string;
  /** Tensors the gradient tape starts from: nothing before them depends on a trained weight. */
  boundary: GraphTensor[];
  /** Nodes that compute the boundary from the inputs / from the cut, outside the tape. */
  offTapeFromInputs: GraphNode[];
  offTapeFromCut: GraphNode[];
  /** Nodes that compute the outputs from the boundary, on the tape. */
  tapeNodes: GraphNode[];
}

/** Cuts `graph` for a run that trains exactly the variables in `trained`. */
export function splitGraph(graph: ModelGraph, trained: ReadonlySet<tf.Variable>): Split {
  const needed = new Set(nodesBetween(graph, graph.inputs, graph.outputs));
  const grad = new Set<GraphTensor>();
  const cacheable = new Set<GraphTensor>(graph.inputs);
  const blockers = new Map<GraphNode, string>();
  for (const node of graph.nodes) {
    if (!needed.has(node)) continue;
    const own = trainsWeights(node.layer, trained);
    if (own || node.inputs.some((t) => grad.has(t))) {
      for (const t of node.outputs) grad.add(t);
      blockers.set(node, own ? `'${node.key}' is trained` : `'${node.key}' follows a trained layer`);
      continue;
    }
    const why = notCacheable(node);
    if (why) { blockers.set(node, why); continue; }
    if (!node.inputs.every((t) => cacheable.has(t))) { blockers.set(node, `'${node.key}' follows ${firstBlocker(node, cacheable, blockers)}`); continue; }
    for (const t of node.outputs) cacheable.add(t);
  }
  const order = [...graph.inputs, ...graph.nodes.flatMap((n) => n.outputs)];
  const readByOthers = (t: GraphTensor, keep: Set<GraphTensor>) => graph.outputs.includes(t) || t.consumers.some((c) => needed.has(c) && !c.outputs.every((o) => keep.has(o)));
  const cut = order.filter((t) => cacheable.has(t) && readByOthers(t, cacheable));
  const boundary = order.filter((t) => !grad.has(t) && (graph.outputs.includes(t) || t.consumers.some((c) => needed.has(c) && c.outputs.some((o) => grad.has(o)))));
  // The first layer past the cut says why the cut stops there.
  const past = graph.nodes.find((n) => needed.has(n) && blockers.has(n) && n.inputs.some((t) => cut.includes(t)));
  const cacheNodes = nodesBetween(graph, graph.inputs, cut);
  const cacheLimit = past ? `the cut stops before ${blockers.get(past)}` : 'the whole model is frozen';
  return {
    graph,
    cut,
    cacheNodes,
    cacheLimit: cacheNodes.length === 0 && past ? `no frozen, deterministic layer comes before ${blockers.get(past)}` : cacheLimit,
    boundary,
    offTapeFromInputs: nodesBetween(graph, graph.inputs, boundary),
    offTapeFromCut: nodesBetween(graph, cut, boundary),
    tapeNodes: nodesBetween(graph, boundary, graph.outputs),
  };
}

/** Layer keys whose outputs are in the cut (the layers a cache ends after). */
export function cutLayers(split: Split): string[] {
  return [...new Set(split.cut.filter((t) => t.producer).map((t) => (t.producer as GraphNode).key))];
}

/** Why a frozen node's output may change between two calls on the same input, if it may. */
function notCacheable(node: GraphNode): string | undefined {
  const layer = node.layer;
  if (isBatchNorm(layer)) return isBatchNormFrozen(layer) ? undefined : `BatchNorm '${node.key}', which normalises with batch statistics and updates its moving ones in training (freeze it with bnStats: 'freeze' to cache past it)`;
  const why = randomnessOf(layer);
  return why ? `'${node.key}' (${why})` : undefined;
}

function firstBlocker(node: GraphNode, cacheable: Set<GraphTensor>, blockers: Map<GraphNode, string>): string {
  for (const t of node.inputs) {
    if (cacheable.has(t) || !t.producer) continue;
    const b = blockers.get(t.producer);
    if (b) return b.replace(/^'[^']*' follows /, '');
  }
  return 'a layer that cannot be cached';
}

/** Whether `layer` owns a weight in `trained`. */
function trainsWeights(layer: tf.layers.Layer, trained: ReadonlySet<tf.Variable>): boolean {
  for (const w of layer.weights as unknown as Array<{ val?: tf.Variable }>) if (w.val && trained.has(w.val)) return true;
  return false;
}
