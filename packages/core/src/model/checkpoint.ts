// A checkpoint folder: one model.safetensors or shards listed in model.safetensors.index.json.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeJsonAtomic } from "../util/atomic-write.ts";
import { isFloatDtype, type StDtype } from "./dtype.ts";
import {
  checkShape,
  fileExists,
  SafetensorsError,
  SafetensorsFile,
  type TensorInfo,
  type TensorToWrite,
  writeSafetensors,
} from "./safetensors.ts";

export const SINGLE_FILE = "model.safetensors";
export const INDEX_FILE = "model.safetensors.index.json";

export class Checkpoint {
  private constructor(
    readonly dir: string,
    private readonly files: Map<string, SafetensorsFile>,
    private readonly where: Map<string, SafetensorsFile>,
  ) {}

  /** Opens `<dir>/model.safetensors`, or the shards named by `<dir>/model.safetensors.index.json`. */
  static async open(dir: string, single = SINGLE_FILE, index = INDEX_FILE): Promise<Checkpoint> {
    const files = new Map<string, SafetensorsFile>();
    const where = new Map<string, SafetensorsFile>();
    const indexPath = join(dir, index);
    try {
      if (await fileExists(indexPath)) {
        let map: Record<string, unknown>;
        try {
          const json = JSON.parse(await readFile(indexPath, "utf8")) as { weight_map?: unknown };
          if (typeof json.weight_map !== "object" || json.weight_map === null)
            throw new Error("no weight_map");
          map = json.weight_map as Record<string, unknown>;
        } catch (e) {
          throw new SafetensorsError(`${indexPath}: invalid index (${(e as Error).message})`);
        }
        for (const [name, shard] of Object.entries(map)) {
          if (typeof shard !== "string" || shard.includes("/") || shard.includes("\\"))
            throw new SafetensorsError(`${indexPath}: weight_map["${name}"] is not a shard file name`);
          let f = files.get(shard);
          if (!f) {
            f = await SafetensorsFile.open(join(dir, shard));
            files.set(shard, f);
          }
          if (!f.tensors.has(name))
            throw new SafetensorsError(
              `${indexPath}: tensor "${name}" is listed in ${shard} but not found there`,
            );
          where.set(name, f);
        }
      } else {
        const f = await SafetensorsFile.open(join(dir, single));
        files.set(single, f);
        for (const name of f.tensors.keys()) where.set(name, f);
      }
    } catch (e) {
      for (const f of files.values()) await f.close();
      throw e;
    }
    return new Checkpoint(dir, files, where);
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  /** The path of the file that holds `name`. */
  fileOf(name: string): string {
    return this.where.get(name)?.path ?? this.dir;
  }

  info(name: string): TensorInfo {
    const f = this.where.get(name);
    if (!f) throw new SafetensorsError(`${this.dir}: tensor "${name}" is missing from the checkpoint`);
    return f.info(name);
  }

  /** Reads one tensor as float32, checking its shape when given. */
  async readF32(name: string, expectedShape?: readonly number[]): Promise<Float32Array> {
    const f = this.where.get(name);
    if (!f) {
      const shape = expectedShape ? ` (expected shape [${expectedShape.join(", ")}])` : "";
      throw new SafetensorsError(`${this.dir}: tensor "${name}"${shape} is missing from the checkpoint`);
    }
    if (expectedShape) checkShape(f.path, name, expectedShape, f.info(name).shape);
    return f.readF32(name);
  }

  /** The stored dtype most tensors use. */
  dominantDtype(): StDtype {
    const count = new Map<StDtype, number>();
    for (const n of this.where.keys()) {
      const d = this.info(n).dtype;
      if (isFloatDtype(d)) count.set(d, (count.get(d) ?? 0) + 1);
    }
    return [...count.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "F32";
  }

  async close(): Promise<void> {
    for (const f of this.files.values()) await f.close();
  }
}

function bytesOf(t: TensorToWrite, dtype: StDtype): number {
  return t.shape.reduce((a, b) => a * b, 1) * (dtype === "F32" ? 4 : 2);
}

/**
 * Writes tensors into `dir` as one model.safetensors, or as HF-style shards plus an index when
 * they exceed `maxShardBytes`. Each file is written atomically; the index is written last.
 */
export async function writeCheckpoint(
  dir: string,
  tensors: readonly TensorToWrite[],
  opts: { dtype?: StDtype; maxShardBytes?: number; metadata?: Record<string, string> } = {},
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const dtype = opts.dtype ?? "F32";
  const metadata = { format: "pt", ...opts.metadata };
  const max = opts.maxShardBytes ?? Number.POSITIVE_INFINITY;
  const shards: TensorToWrite[][] = [[]];
  let size = 0;
  let total = 0;
  for (const t of tensors) {
    const b = bytesOf(t, t.dtype ?? dtype);
    total += b;
    if (size > 0 && size + b > max) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push(t);
    size += b;
  }
  if (shards.length === 1) {
    await writeSafetensors(join(dir, SINGLE_FILE), tensors, { dtype, metadata });
    return [SINGLE_FILE];
  }
  const names: string[] = [];
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < shards.length; i++) {
    const name = `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
    await writeSafetensors(join(dir, name), shards[i]!, { dtype, metadata });
    for (const t of shards[i]!) weightMap[t.name] = name;
    names.push(name);
  }
  await writeJsonAtomic(join(dir, INDEX_FILE), { metadata: { total_size: total }, weight_map: weightMap });
  return [...names, INDEX_FILE];
}
