// Layout kernels: transposes that tfjs-wasm runs as a generic scalar loop
// (4 ms for a [1024, 512] matrix, 20x a copy). Every transpose the models and
// the matmul fix issue reduces, after merging axes that stay together, to
//   x [batch, R, C, D] -> y [batch, C, R, D]
// D == 1 is a batched matrix transpose, done in 4x4 register blocks over
// 16x16 tiles (both sides touch whole cache lines); D > 1 moves rows of D floats.

const TILE: i32 = 16;

@inline function t4x4(x: usize, y: usize, C: i32, R: i32): void {
  // x: 4 rows of 4 floats, stride C; y: 4 rows of 4 floats, stride R.
  const cs = <usize>C << 2, rs = <usize>R << 2;
  const a = v128.load(x), b = v128.load(x + cs), c = v128.load(x + 2 * cs), d = v128.load(x + 3 * cs);
  const t0 = v128.shuffle<i32>(a, b, 0, 4, 1, 5);
  const t1 = v128.shuffle<i32>(a, b, 2, 6, 3, 7);
  const t2 = v128.shuffle<i32>(c, d, 0, 4, 1, 5);
  const t3 = v128.shuffle<i32>(c, d, 2, 6, 3, 7);
  v128.store(y, v128.shuffle<i32>(t0, t2, 0, 1, 4, 5));
  v128.store(y + rs, v128.shuffle<i32>(t0, t2, 2, 3, 6, 7));
  v128.store(y + 2 * rs, v128.shuffle<i32>(t1, t3, 0, 1, 4, 5));
  v128.store(y + 3 * rs, v128.shuffle<i32>(t1, t3, 2, 3, 6, 7));
}

function transposeMatrix(x: usize, y: usize, R: i32, C: i32): void {
  const R4 = R & ~3, C4 = C & ~3;
  for (let rb = 0; rb < R4; rb += TILE) {
    const re = min(rb + TILE, R4);
    for (let cb = 0; cb < C4; cb += TILE) {
      const ce = min(cb + TILE, C4);
      for (let r = rb; r < re; r += 4) {
        for (let c = cb; c < ce; c += 4) {
          t4x4(x + ((<usize>r * C + c) << 2), y + ((<usize>c * R + r) << 2), C, R);
        }
      }
    }
  }
  // Ragged edges: the last R % 4 rows and C % 4 columns, element by element.
  for (let r = 0; r < R; r++) {
    const c0 = r < R4 ? C4 : 0;
    for (let c = c0; c < C; c++) store<f32>(y + ((<usize>c * R + r) << 2), load<f32>(x + ((<usize>r * C + c) << 2)));
  }
}

function moveRows(x: usize, y: usize, R: i32, C: i32, D: i32): void {
  const bytes = <usize>D << 2;
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      const src = x + (<usize>(r * C + c)) * bytes, dst = y + (<usize>(c * R + r)) * bytes;
      let i: usize = 0;
      for (; i + 16 <= bytes; i += 16) v128.store(dst + i, v128.load(src + i));
      for (; i < bytes; i += 4) store<f32>(dst + i, load<f32>(src + i));
    }
  }
}

/** y[b, c, r, :] = x[b, r, c, :] for x [batch, R, C, D] (float32, 4-byte elements of any 32-bit type). */
export function transpose_f32(x: usize, y: usize, batch: i32, R: i32, C: i32, D: i32): void {
  const slice = <usize>R * C * D << 2;
  for (let b = 0; b < batch; b++) {
    const xs = x + <usize>b * slice, ys = y + <usize>b * slice;
    if (D == 1) transposeMatrix(xs, ys, R, C);
    else moveRows(xs, ys, R, C, D);
  }
}
