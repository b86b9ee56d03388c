// Sums over the leading or the trailing axes of a row-major [R, C] float32
// array. tfjs-backend-wasm's Sum transposes the reduced axes innermost with
// its scalar Transpose first (a bias gradient, a sum over [1024, 64]'s rows,
// took ~0.7 ms); these read the array once, in order.

/** y[c] = sum over r of x[r, c], added in row order (float32, as tfjs does). */
export function sum_rows_f32(x: usize, y: usize, R: i32, C: i32): void {
  const C4 = C & ~3;
  const rowBytes = <usize>C << 2;
  // Row 0 initialises y; each later row is added into it.
  for (let c = 0; c < C; c++) store<f32>(y + (<usize>c << 2), R > 0 ? load<f32>(x + (<usize>c << 2)) : 0);
  for (let r = 1; r < R; r++) {
    const xr = x + <usize>r * rowBytes;
    let c = 0;
    for (; c < C4; c += 4) {
      const off = <usize>c << 2;
      v128.store(y + off, f32x4.add(v128.load(y + off), v128.load(xr + off)));
    }
    for (; c < C; c++) {
      const off = <usize>c << 2;
      store<f32>(y + off, load<f32>(y + off) + load<f32>(xr + off));
    }
  }
}

/** y[r] = sum over c of x[r, c] (four lanes, then the lanes and the tail). */
export function sum_cols_f32(x: usize, y: usize, R: i32, C: i32): void {
  const C4 = C & ~3;
  const rowBytes = <usize>C << 2;
  for (let r = 0; r < R; r++) {
    const xr = x + <usize>r * rowBytes;
    let acc = f32x4.splat(0);
    let c = 0;
    for (; c < C4; c += 4) acc = f32x4.add(acc, v128.load(xr + (<usize>c << 2)));
    let s: f32 = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
    for (; c < C; c++) s += load<f32>(xr + (<usize>c << 2));
    store<f32>(y + (<usize>r << 2), s);
  }
}
