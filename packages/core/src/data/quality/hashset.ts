// A compact set of 32-bit hashes (open addressing on a typed array): distinct-n over millions of n-grams
// without a Set's per-entry objects.
export class HashSet32 {
  private table = new Uint32Array(1 << 12);
  private used = new Uint8Array(1 << 12);
  size = 0;

  add(h: number): void {
    const mask = this.table.length - 1;
    let i = h & mask;
    while (this.used[i]) {
      if (this.table[i] === h) return;
      i = (i + 1) & mask;
    }
    this.used[i] = 1;
    this.table[i] = h;
    if (++this.size * 2 > this.table.length) this.grow();
  }

  private grow(): void {
    const oldT = this.table;
    const oldU = this.used;
    this.table = new Uint32Array(oldT.length * 2);
    this.used = new Uint8Array(oldT.length * 2);
    this.size = 0;
    for (let i = 0; i < oldT.length; i++) if (oldU[i]) this.add(oldT[i]!);
  }
}
