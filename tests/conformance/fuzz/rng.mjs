// A small seeded PRNG (sfc32 seeded through splitmix32) and the choices the generator makes with it.
// Every query the fuzzer makes is a pure function of (seed, position), so a seed reproduces a run.

function splitmix32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  constructor(seed) {
    const mix = splitmix32(seed);
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
  }

  next() {
    // sfc32: a uniform 32-bit integer
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) >>> 0;
    return t;
  }

  float() {
    return this.next() / 4294967296;
  }

  int(lo, hi) {
    // inclusive bounds
    return lo + (this.next() % (hi - lo + 1));
  }

  chance(p) {
    return this.float() < p;
  }

  pick(items) {
    return items[this.next() % items.length];
  }

  // weighted: [[weight, value], ...]
  weighted(pairs) {
    const total = pairs.reduce((s, [w]) => s + w, 0);
    let x = this.float() * total;
    for (const [w, v] of pairs) {
      x -= w;
      if (x < 0) return v;
    }
    return pairs[pairs.length - 1][1];
  }

  subset(items, min = 0, max = items.length) {
    const n = this.int(min, Math.min(max, items.length));
    return this.shuffle(items).slice(0, n);
  }

  shuffle(items) {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.next() % (i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  fork() {
    return new Rng(this.next());
  }
}
