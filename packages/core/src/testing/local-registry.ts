// A throwaway npm registry on 127.0.0.1 that serves the packages already installed in this workspace, so a test
// can install packed tarballs with npm or pnpm into a fresh project without the network (neither the npm cache
// nor pnpm's metadata cache hold what a fresh resolution asks for; the pnpm store's files are all here).
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

interface Manifest {
  name: string;
  version: string;
  [key: string]: unknown;
}

export interface LocalRegistry {
  url: string;
  close(): Promise<void>;
}

/** Installed package folders of the production closure of `packageDirs` (per `pnpm list --parseable`). */
export function installedClosure(packageDirs: string[], pnpm: string[]): string[] {
  const dirs = new Set<string>();
  for (const cwd of packageDirs) {
    const r = spawnSync(
      pnpm[0]!,
      [...pnpm.slice(1), "list", "--prod", "--depth", "Infinity", "--parseable"],
      {
        cwd,
        encoding: "utf8",
      },
    );
    if (r.status !== 0) throw new Error(`pnpm list failed in ${cwd}: ${r.stderr}`);
    for (const line of r.stdout.split("\n")) if (line.includes("node_modules")) dirs.add(line.trim());
  }
  return [...dirs];
}

/**
 * Serves every package folder in `dirs` (packuments on demand, tarballs made with tar into `cacheDir`) and the
 * packed tarballs `packed` as they are (as if published).
 */
export async function startLocalRegistry(
  dirs: string[],
  cacheDir: string,
  packed: string[] = [],
): Promise<LocalRegistry> {
  const byName = new Map<string, Map<string, string>>();
  const packedFiles = new Map<string, string>();
  for (const file of packed) {
    const m = JSON.parse(
      spawnSync("tar", ["-xzOf", file, "package/package.json"], { encoding: "utf8" }).stdout,
    ) as Manifest;
    packedFiles.set(`${m.name}@${m.version}`, file);
    if (!byName.has(m.name)) byName.set(m.name, new Map());
    byName.get(m.name)!.set(m.version, file);
  }
  for (const dir of dirs) {
    const file = join(dir, "package.json");
    if (!existsSync(file)) continue;
    const m = JSON.parse(readFileSync(file, "utf8")) as Manifest;
    if (!byName.has(m.name)) byName.set(m.name, new Map());
    byName.get(m.name)!.set(m.version, dir);
  }
  mkdirSync(cacheDir, { recursive: true });
  const tarballs = new Map<string, Promise<{ file: string; integrity: string; shasum: string }>>();
  const tarball = (name: string, version: string, dir: string) => {
    const key = `${name}@${version}`;
    let made = tarballs.get(key);
    const ready = packedFiles.get(key);
    if (!made && ready) {
      const bytes = readFileSync(ready);
      made = Promise.resolve({
        file: ready,
        integrity: `sha512-${createHash("sha512").update(bytes).digest("base64")}`,
        shasum: createHash("sha1").update(bytes).digest("hex"),
      });
      tarballs.set(key, made);
    }
    if (!made) {
      const file = join(cacheDir, `${key.replace(/[@/]/g, "_")}.tgz`);
      made = new Promise((resolve, reject) => {
        const tar = spawn("tar", [
          "-czf",
          file,
          "--hard-dereference",
          "--exclude=./node_modules",
          "--transform=s,^\\.,package,",
          "-C",
          dir,
          ".",
        ]);
        tar.on("error", reject);
        tar.on("close", (code) => {
          if (code !== 0) return reject(new Error(`tar ${key} exited ${code}`));
          const bytes = readFileSync(file);
          resolve({
            file,
            integrity: `sha512-${createHash("sha512").update(bytes).digest("base64")}`,
            shasum: createHash("sha1").update(bytes).digest("hex"),
          });
        });
      });
      tarballs.set(key, made);
    }
    return made;
  };

  let base = "";
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]!.slice(1));
    const send = (status: number, body: string | Buffer, type = "application/json") => {
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    const served = async () => {
      const tgz = path.match(/^-\/tarballs\/(.+)\/(.+)$/);
      if (tgz) {
        const versions = byName.get(tgz[1]!);
        const dir = versions?.get(tgz[2]!);
        if (!dir) return send(404, "{}");
        return send(
          200,
          readFileSync((await tarball(tgz[1]!, tgz[2]!, dir)).file),
          "application/octet-stream",
        );
      }
      const versions = byName.get(path);
      if (!versions) return send(404, JSON.stringify({ error: "not found" }));
      const packument: { name: string; versions: Record<string, unknown>; "dist-tags": { latest: string } } =
        {
          name: path,
          versions: {},
          "dist-tags": { latest: [...versions.keys()].at(-1)! },
        };
      for (const [version, dir] of versions) {
        const manifest = packedFiles.has(`${path}@${version}`)
          ? (JSON.parse(
              spawnSync("tar", ["-xzOf", dir, "package/package.json"], { encoding: "utf8" }).stdout,
            ) as Manifest)
          : (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest);
        const { integrity, shasum } = await tarball(path, version, dir);
        packument.versions[version] = {
          ...manifest,
          dist: { tarball: `${base}/-/tarballs/${encodeURIComponent(path)}/${version}`, integrity, shasum },
        };
      }
      send(200, JSON.stringify(packument));
    };
    served().catch((err: unknown) => send(500, JSON.stringify({ error: String(err) })));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
