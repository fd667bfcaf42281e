// A folder tree's stamp (every entry's kind, size and mtime), to tell whether a test run wrote into it.
import { lstatSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";

/**
 * Path (relative to the folder's parent, so it starts with the folder's name) -> "kind size mtime", for the
 * folder and everything under it; empty when it is absent.
 */
export function stampTree(root: string): Map<string, string> {
  const stamps = new Map<string, string>();
  const visit = (path: string) => {
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(path);
    } catch {
      return; // removed while we looked: the parent's mtime shows the change
    }
    const kind = st.isDirectory() ? "dir" : st.isSymbolicLink() ? "link" : "file";
    stamps.set(relative(dirname(root), path), `${kind} ${st.size} ${st.mtimeMs}`);
    if (kind !== "dir") return;
    for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(root);
  return stamps;
}

/** What changed between two stamps of one tree: "added x", "removed x", "modified x" (sorted). */
export function treeChanges(before: Map<string, string>, after: Map<string, string>): string[] {
  const changes: string[] = [];
  for (const [path, stamp] of after) {
    const was = before.get(path);
    if (was === undefined) changes.push(`added ${path}`);
    else if (was !== stamp) changes.push(`modified ${path}`);
  }
  for (const path of before.keys()) if (!after.has(path)) changes.push(`removed ${path}`);
  return changes.sort();
}

/** Stamps the folder now; the returned function lists what changed in it since. */
export function watchTree(root: string): () => string[] {
  const before = stampTree(root);
  return () => treeChanges(before, stampTree(root));
}
