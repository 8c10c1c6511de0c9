/**
 * How train() runs the model: whole (model.apply, or the user's forward for a plain object of
 * variables), or split at the frozen prefix (split.ts): the part before the tape boundary runs
 * outside the gradient tape each step, the rest on it; with a feature cache, each step starts
 * from the cached cut instead of the inputs.
 */
import * as tf from '@tensorflow/tfjs';
import { isLayersModel, type ModelLike } from '../model/weights';
import { packInputs, type InputForm, type Inputs } from './data';
import { feedInputs, GraphUnsupported, modelGraph, nodesBetween, runNodes, type GraphNode, type ModelGraph, type TensorValues } from './graph';
import { cutLayers, splitGraph, type Split } from './split';

/** Where a step's tensors start: the model's inputs, or the cached cut. */
export type FeedKind = 'inputs' | 'cut';

/** What the off-tape part of a step hands the tape. */
export interface StepStart {
  /** The values the tape starts from (boundary tensors), or the inputs when the model runs whole. */
  values: TensorValues;
  feeds: tf.Tensor[];
  form: InputForm;
  /** Tensors the off-tape part made, disposed after the step. */
  made: tf.Tensor[];
}

/** A user's forward for a model that is not a LayersModel. */
export type CustomForward = (x: Inputs, training: boolean) => tf.Tensor;

export class ModelForward {
  readonly graph: ModelGraph | undefined;
  /** Why the model runs whole (no split, no cache), when it does. */
  readonly wholeReason: string | undefined;
  private current: Split | undefined;

  constructor(private readonly model: ModelLike, private readonly custom: CustomForward | undefined, private readonly offTape: boolean) {
    if (custom) {
      this.wholeReason = 'the model runs through opts.forward';
      return;
    }
    if (!isLayersModel(model)) throw new TypeError('train: the model is not a TF.js LayersModel; pass opts.forward(x, training) to say how to run it');
    try {
      this.graph = modelGraph(model);
      if (this.graph.outputs.length !== 1) throw new Error(`train: the model has ${this.graph.outputs.length} outputs; train() takes a single-output model`);
    } catch (e) {
      if (!(e instanceof GraphUnsupported)) throw e;
      this.wholeReason = `the model's graph cannot be run in parts: ${e.message}`;
    }
  }

  /** The model's input names (to order a map of inputs), or undefined for a custom forward. */
  inputNames(): string[] | undefined {
    if (this.custom) return undefined;
    if (this.graph) return this.graph.inputNames;
    const names = (this.model as { inputNames?: string[] }).inputNames;
    return Array.isArray(names) && names.length > 0 ? names : undefined;
  }

  /** The split in use (undefined when the model runs whole). */
  get split(): Split | undefined {
    return this.current;
  }

  /** Cuts the graph again for the weights now trained; true when the cache cut moved. */
  resplit(trained: ReadonlySet<tf.Variable>): boolean {
    if (!this.graph) return false;
    const before = this.current?.cut;
    this.current = splitGraph(this.graph, trained);
    return before === undefined || before.length !== this.current.cut.length || before.some((t, i) => t !== this.current?.cut[i]);
  }

  /** Layers run outside the tape every step (feeding from the inputs). */
  offTapeLayers(): string[] {
    return this.current && this.offTape ? [...new Set(this.current.offTapeFromInputs.map((n) => n.key))] : [];
  }

  /** Layers a cache ends after. */
  cutLayers(): string[] {
    return this.current ? cutLayers(this.current) : [];
  }

  /** The cut's values for a batch of inputs, in inference mode, outside any tape (new tensors). */
  features(inputs: tf.Tensor[]): tf.Tensor[] {
    const split = this.need();
    return tf.tidy(() => {
      const values = feedInputs(split.graph, inputs);
      runNodes(split.cacheNodes, values, false);
      // A cut tensor that is an input passed through unchanged is copied: the cache owns its tensors.
      return split.cut.map((t) => {
        const v = values.get(t.id) as tf.Tensor;
        return inputs.includes(v) ? v.clone() : v;
      });
    });
  }

  /** The part of a step outside the tape: everything before the first trained layer. */
  begin(feeds: tf.Tensor[], from: FeedKind, form: InputForm, training: boolean): StepStart {
    const split = this.current;
    if (!split || !this.offTape) return { values: new Map(), feeds, form, made: [] };
    const nodes = from === 'cut' ? split.offTapeFromCut : split.offTapeFromInputs;
    const boundary = tf.tidy(() => {
      const values = this.feed(split, feeds, from);
      runNodes(nodes, values, training);
      return split.boundary.map((t) => values.get(t.id) as tf.Tensor);
    });
    const values: TensorValues = new Map();
    split.boundary.forEach((t, i) => values.set(t.id, boundary[i]));
    return { values, feeds, form, made: boundary.filter((b) => !feeds.includes(b)) };
  }

  /** The part of a step on the tape: from the boundary (or the feeds) to the output. */
  end(start: StepStart, from: FeedKind, training: boolean): tf.Tensor {
    const split = this.current;
    if (!split) return this.whole(start.feeds, start.form, training);
    let values: TensorValues;
    let nodes: readonly GraphNode[];
    if (this.offTape) {
      values = new Map(start.values);
      nodes = split.tapeNodes;
    } else {
      values = this.feed(split, start.feeds, from);
      nodes = from === 'cut' ? nodesBetween(split.graph, split.cut, split.graph.outputs) : split.graph.nodes;
    }
    runNodes(nodes, values, training);
    return values.get(split.graph.outputs[0].id) as tf.Tensor;
  }

  /** The model's output in inference mode (validation), from the inputs or the cut. */
  predict(feeds: tf.Tensor[], from: FeedKind, form: InputForm): tf.Tensor {
    const split = this.current;
    if (!split) return this.whole(feeds, form, false);
    const values = this.feed(split, feeds, from);
    runNodes(from === 'cut' ? nodesBetween(split.graph, split.cut, split.graph.outputs) : split.graph.nodes, values, false);
    return values.get(split.graph.outputs[0].id) as tf.Tensor;
  }

  private feed(split: Split, feeds: tf.Tensor[], from: FeedKind): TensorValues {
    if (from === 'inputs') return feedInputs(split.graph, feeds);
    const values: TensorValues = new Map();
    split.cut.forEach((t, i) => values.set(t.id, feeds[i]));
    return values;
  }

  private whole(feeds: tf.Tensor[], form: InputForm, training: boolean): tf.Tensor {
    if (this.custom) return this.custom(packInputs(feeds, form), training);
    const out = (this.model as tf.LayersModel).apply(feeds.length === 1 ? feeds[0] : feeds, { training });
    if (Array.isArray(out)) throw new Error(`train: the model has ${out.length} outputs; train() takes a single-output model`);
    return out as tf.Tensor;
  }

  private need(): Split {
    if (!this.current) throw new Error('train: internal: no split of the model');
    return this.current;
  }
}
