// The model blob: structure check (PROTOCOL.md §2.1, §2.2, §5.2) and integer-only inference (§2.3).
// The blob stays in the one RAM buffer it arrived in (no decoded copy, so a 1 KB model fits a 2 KB Uno);
// only its dense weight sections are rearranged there, in place, for speed (prepare_for_inference, below).
#ifndef BINGO_MODEL_H
#define BINGO_MODEL_H

#include <stdint.h>
#include <string.h>
#include "protocol.h"

static inline uint16_t read_u16(const uint8_t *p) { return p[0] | ((uint16_t)p[1] << 8); }

static inline int32_t read_i32(const uint8_t *p) {
  int32_t value;
  memcpy(&value, p, 4);  // the AVR is little-endian like the blob (§ conventions)
  return value;
}

static inline uint8_t popcount8(uint8_t b) {
  uint8_t n = 0;
  for (; b; b &= b - 1) n++;
  return n;
}

// §5.2 COMMIT checks after the CRC, in the spec's order: magic, format version, structure, widths.
// The same check runs on boot for the EEPROM copy (§3). Returns OK or the status code to answer.
static uint8_t check_blob(const uint8_t *blob, uint16_t length) {
  if (length < 4 || memcmp(blob, BLOB_MAGIC, 4) != 0) return E_BAD_MAGIC;
  if (length < 5) return E_BAD_MODEL;
  if (blob[4] != BLOB_FORMAT_VERSION) return E_BAD_VERSION;
  if (length < 6) return E_BAD_MODEL;
  const uint8_t n_layers = blob[5];
  if (n_layers < 1 || n_layers > BLOB_MAX_LAYERS) return E_BAD_MODEL;
  uint32_t pos = 6;
  if (pos + n_layers + 1 > length) return E_BAD_MODEL;
  const uint8_t *sizes = blob + pos;
  pos += n_layers + 1;
  bool too_wide = sizes[n_layers] > PREDICT_MAX_LOGITS;
  for (uint8_t i = 0; i <= n_layers; i++) {
    if (sizes[i] == 0) return E_BAD_MODEL;
    if (sizes[i] > WIDEST_LAYER) too_wide = true;
  }
  for (uint8_t i = 0; i < n_layers; i++) {
    const uint8_t in = sizes[i], out = sizes[i + 1];
    const uint16_t n_weights = (uint16_t)in * out;
    if (pos + 6 + 4UL * out > length) return E_BAD_MODEL;
    const uint8_t encoding = blob[pos], shift = blob[pos + 1];
    const uint16_t multiplier = read_u16(blob + pos + 2), nnz = read_u16(blob + pos + 4);
    const bool last = i == n_layers - 1;
    if (shift > BLOB_MAX_SHIFT || (last && (shift != 0 || multiplier != 0))) return E_BAD_MODEL;
    if (nnz > n_weights) return E_BAD_MODEL;
    pos += 6 + 4UL * out;
    if (encoding == ENCODING_DENSE) {
      if (nnz != n_weights) return E_BAD_MODEL;
    } else if (encoding == ENCODING_BITMAP) {
      const uint16_t bitmap_bytes = (n_weights + 7) / 8;
      if (pos + bitmap_bytes > length) return E_BAD_MODEL;
      uint16_t set_bits = 0;
      for (uint16_t b = 0; b < bitmap_bytes; b++) set_bits += popcount8(blob[pos + b]);
      const uint8_t used_in_last = n_weights % 8;  // padding bits after the last weight must be 0
      if (used_in_last && (blob[pos + bitmap_bytes - 1] >> used_in_last)) return E_BAD_MODEL;
      if (set_bits != nnz) return E_BAD_MODEL;
      pos += bitmap_bytes;
    } else if (encoding == ENCODING_INDEX_LIST) {
      uint16_t listed = 0;
      for (uint8_t r = 0; r < out; r++) {
        if (pos + 1 > length) return E_BAD_MODEL;
        const uint8_t count = blob[pos++];
        if (count > in || pos + count > length) return E_BAD_MODEL;
        for (uint8_t k = 0; k < count; k++) {
          const uint8_t column = blob[pos + k];
          if (column >= in || (k > 0 && column <= blob[pos + k - 1])) return E_BAD_MODEL;
        }
        pos += count;
        listed += count;
      }
      if (listed != nnz) return E_BAD_MODEL;
    } else {
      return E_BAD_MODEL;
    }
    pos += nnz;  // the i8 weight values
    if (pos > length) return E_BAD_MODEL;
  }
  if (pos != length) return E_BAD_MODEL;
  return too_wide ? E_TOO_WIDE : OK;
}

// ---- §2.3 inference -------------------------------------------------------------------------------
// Each layer runs in two passes: the weight encoding's own loop writes every row's i32 accumulator
// (bias + sum of products) to `acc`, then the hidden-layer step (ReLU + requantisation) or the argmax
// reads them. Keeping the row loops small keeps their variables in registers.
// The inner loops are AVR assembly (C costs ~24 cycles per multiply-accumulate here; these 8-13).
// Sums of products are accumulated in 24 bits, which is exact: a row has at most 255 inputs, so
// |sum| <= 128 * 255 * 255 < 2^23 (and the offset-binary dense sums below stay <= 255 * 255 * 255 < 2^24).

// Dense weights get an inference layout in RAM, made once when a verified model becomes active (the wire
// and EEPROM keep exactly §2; EEPROM is written before, and read back into RAM after, this runs):
//  - offset binary, u = w + 128 (= w ^ 0x80): every product is unsigned and needs no sign fix-up;
//    dense_rows() subtracts 128 * sum_c x[c] once per row instead;
//  - rows in pairs, interleaved column by column (r0c0 r1c0 r0c1 r1c1 ...): one activation load feeds two
//    multiplies. An odd last row stays as it is.
// `scratch` needs 2 * (widest layer) bytes.
static void prepare_for_inference(uint8_t *blob, uint8_t *scratch) {
  const uint8_t n_layers = blob[5];
  const uint8_t *sizes = blob + 6;
  uint8_t *record = blob + 6 + n_layers + 1;
  for (uint8_t i = 0; i < n_layers; i++) {
    const uint8_t in = sizes[i], out = sizes[i + 1];
    const uint16_t n_weights = (uint16_t)in * out, nnz = read_u16(record + 4);
    uint8_t *section = record + 6 + 4 * (uint16_t)out;
    if (record[0] == ENCODING_DENSE) {
      for (uint16_t k = 0; k < n_weights; k++) section[k] ^= 0x80;
      for (uint8_t r = 0; r + 1 < out; r += 2) {
        uint8_t *pair = section + (uint16_t)r * in;
        memcpy(scratch, pair, 2 * (uint16_t)in);
        for (uint8_t c = 0; c < in; c++) {
          pair[2 * c] = scratch[c];
          pair[2 * c + 1] = scratch[in + c];
        }
      }
      record = section + n_weights;
    } else if (record[0] == ENCODING_BITMAP) {
      record = section + (n_weights + 7) / 8 + nnz;
    } else {
      record = section + out + 2 * nnz;
    }
  }
}

// Two dense rows at once over interleaved offset-binary weights (above): sums u0[c]*x[c] and u1[c]*x[c];
// advances *weights past both rows. 16 cycles per column (two weights), + 3 per 4 columns.
__attribute__((always_inline)) static inline void dot_dense_pair(const uint8_t **weights, const uint8_t *x,
                                                                   uint8_t n, __uint24 *sum0, __uint24 *sum1) {
  const uint8_t *w = *weights;
  __uint24 acc0 = 0, acc1 = 0;
  uint8_t fours = n >> 2, rest = n & 3, w0, w1, xv, zero;
#define BINGO_MAC_PAIR                                                                               \
  "ld %[xv], X+\n\t" "ld %[w0], Z+\n\t" "ld %[w1], Z+\n\t"                                           \
  "mul %[w0], %[xv]\n\t" "add %A[acc0], r0\n\t" "adc %B[acc0], r1\n\t" "adc %C[acc0], %[zero]\n\t" \
  "mul %[w1], %[xv]\n\t" "add %A[acc1], r0\n\t" "adc %B[acc1], r1\n\t" "adc %C[acc1], %[zero]\n\t"
  asm volatile(
      "clr %[zero]\n\t"
      "tst %[fours]\n\t"
      "breq 2f\n"
      "1:\n\t" BINGO_MAC_PAIR BINGO_MAC_PAIR BINGO_MAC_PAIR BINGO_MAC_PAIR
      "dec %[fours]\n\t"
      "brne 1b\n"
      "2:\n\t"
      "tst %[rest]\n\t"
      "breq 4f\n"
      "3:\n\t" BINGO_MAC_PAIR
      "dec %[rest]\n\t"
      "brne 3b\n"
      "4:\n\t"
      "clr __zero_reg__\n\t"
      : [acc0] "+r"(acc0), [acc1] "+r"(acc1), [w] "+z"(w), [x] "+x"(x), [fours] "+r"(fours), [rest] "+r"(rest),
        [w0] "=&r"(w0), [w1] "=&r"(w1), [xv] "=&r"(xv), [zero] "=&r"(zero)
      :
      : "r0", "memory");
#undef BINGO_MAC_PAIR
  *weights = w;
  *sum0 = acc0;
  *sum1 = acc1;
}

// One dense row (the odd last one): returns sum_c u[c] * x[c]; advances *weights. 9 cycles per weight.
__attribute__((always_inline)) static inline __uint24 dot_dense_row(const uint8_t **weights, const uint8_t *x,
                                                                      uint8_t n) {
  const uint8_t *w = *weights;
  __uint24 acc = 0;
  uint8_t xv, wv, zero;
  asm volatile(
      "clr %[zero]\n"
      "1:\n\t"
      "ld %[wv], Z+\n\t" "ld %[xv], X+\n\t" "mul %[wv], %[xv]\n\t"
      "add %A[acc], r0\n\t" "adc %B[acc], r1\n\t" "adc %C[acc], %[zero]\n\t"
      "dec %[n]\n\t"
      "brne 1b\n\t"
      "clr __zero_reg__\n\t"
      : [acc] "+r"(acc), [w] "+z"(w), [x] "+x"(x), [n] "+r"(n), [wv] "=&r"(wv), [xv] "=&r"(xv), [zero] "=&r"(zero)
      :
      : "r0", "memory");
  *weights = w;
  return acc;
}

// Bitmap, a run of whole bitmap bytes inside one row: bit k of each byte selects input x[k] of its group
// of 8; set bits take the next stored weight. Straight-line code per bit: 3 cycles per zero bit, 13 per
// set bit, 13 per byte. Activations are read at a constant displacement from Z, stored values walk X,
// and the bitmap pointer borrows X for one load per byte. Returns the new signed 24-bit sum; advances
// *bitmap and *values.
__attribute__((always_inline)) static inline __int24 mac_bitmap_bytes(__int24 acc, const uint8_t **bitmap,
                                                                        const uint8_t *x, const int8_t **values,
                                                                        uint8_t n_bytes) {
  const int8_t *w = *values;
  const uint8_t *bits_ptr = *bitmap;
  const int8_t *saved;
  uint8_t bits, wv, xv, zero;
#define BINGO_BIT(k)                                                                                  \
  "sbrs %[bits], " #k "\n\t" "rjmp 1" #k "f\n\t"                                                       \
  "ld %[wv], X+\n\t" "ldd %[xv], Z+" #k "\n\t" "mulsu %[wv], %[xv]\n\t"                                \
  "add %A[acc], r0\n\t" "adc %B[acc], r1\n\t" "adc %C[acc], %[zero]\n\t"                               \
  "sbrc r1, 7\n\t" "dec %C[acc]\n" /* a negative product: take 2^16 back off the top byte */            \
  "1" #k ":\n\t"
  asm volatile(
      "clr %[zero]\n"
      "1:\n\t"
      "movw %[saved], r26\n\t"
      "movw r26, %[bp]\n\t"
      "ld %[bits], X+\n\t"
      "movw %[bp], r26\n\t"
      "movw r26, %[saved]\n\t"
      "tst %[bits]\n\t"
      "brne 3f\n\t"  // (branches reach only 64 words: hop over the bit blocks with rjmp)
      "rjmp 2f\n"
      "3:\n\t"
      BINGO_BIT(0) BINGO_BIT(1) BINGO_BIT(2) BINGO_BIT(3) BINGO_BIT(4) BINGO_BIT(5) BINGO_BIT(6) BINGO_BIT(7)
      "2:\n\t"
      "adiw r30, 8\n\t"
      "dec %[n]\n\t"
      "breq 5f\n\t"
      "rjmp 1b\n"
      "5:\n\t"
      "clr __zero_reg__\n\t"
      : [acc] "+r"(acc), [w] "+x"(w), [x] "+z"(x), [bp] "+r"(bits_ptr), [n] "+r"(n_bytes), [saved] "=&r"(saved),
        [bits] "=&r"(bits), [wv] "=&a"(wv), [xv] "=&a"(xv), [zero] "=&r"(zero)
      :
      : "r0", "memory");
#undef BINGO_BIT
  *values = w;
  *bitmap = bits_ptr;
  return acc;
}

// Bitmap, part of one byte (a row that does not start or end on a byte boundary): the set bits of `bits`
// (bit k = input x[k]) take the next stored weights, in order. Rare, so plain C.
static __int24 mac_bitmap_part(__int24 acc, uint8_t bits, const uint8_t *x, const int8_t **values) {
  for (; bits; bits >>= 1, x++)
    if (bits & 1) acc += (int16_t)(*(*values)++ * *x);
  return acc;
}

// sum_c x[c] for n >= 1 bytes: 4 cycles per byte (+3 per 4); C takes 7.
__attribute__((always_inline)) static inline uint16_t sum_bytes(const uint8_t *x, uint8_t n) {
  uint16_t sum = 0;
  uint8_t fours = n >> 2, rest = n & 3, v, zero;
#define BINGO_ADD "ld %[v], X+\n\t" "add %A[sum], %[v]\n\t" "adc %B[sum], %[zero]\n\t"
  asm volatile(
      "clr %[zero]\n\t"
      "tst %[fours]\n\t"
      "breq 2f\n"
      "1:\n\t" BINGO_ADD BINGO_ADD BINGO_ADD BINGO_ADD
      "dec %[fours]\n\t"
      "brne 1b\n"
      "2:\n\t"
      "tst %[rest]\n\t"
      "breq 4f\n"
      "3:\n\t" BINGO_ADD
      "dec %[rest]\n\t"
      "brne 3b\n"
      "4:\n\t"
      : [sum] "+r"(sum), [x] "+x"(x), [fours] "+r"(fours), [rest] "+r"(rest), [v] "=&r"(v), [zero] "=&r"(zero)
      :
      : "memory");
#undef BINGO_ADD
  return sum;
}

// A layer's weights in the blob; each *_rows() consumes them and returns where the next record starts.
struct LayerRecord {
  uint8_t in, out, encoding, shift;
  uint16_t multiplier, nnz;
  const uint8_t *bias;     // out x i32
  const uint8_t *section;  // the weight section (§2.2)
};

static const uint8_t *dense_rows(const LayerRecord &layer, const uint8_t *x, int32_t *acc) {
  const int32_t correction = -128L * sum_bytes(x, layer.in);  // undoes the +128 offset of the weights
  const uint8_t *weights = layer.section;  // in prepare_for_inference()'s layout
  const uint8_t *bias = layer.bias;
  for (uint8_t pairs = layer.out >> 1; pairs; pairs--, bias += 8) {
    __uint24 sum0, sum1;
    dot_dense_pair(&weights, x, layer.in, &sum0, &sum1);
    *acc++ = read_i32(bias) + correction + (int32_t)sum0;
    *acc++ = read_i32(bias + 4) + correction + (int32_t)sum1;
  }
  if (layer.out & 1) *acc = read_i32(bias) + correction + (int32_t)dot_dense_row(&weights, x, layer.in);
  return weights;
}

__attribute__((noinline)) static const uint8_t *bitmap_rows(const LayerRecord &layer, const uint8_t *x, int32_t *acc) {
  const uint8_t *bits = layer.section;  // bit k of the flat bitmap is weight k = r * in + c
  const int8_t *values = (const int8_t *)(layer.section + ((uint16_t)layer.in * layer.out + 7) / 8);
  const uint8_t *bias = layer.bias;
  if ((layer.in & 7) == 0) {  // every row is whole bitmap bytes (64 inputs, 16 hidden units, ...)
    const uint8_t row_bytes = layer.in >> 3;
    for (uint8_t r = layer.out; r; r--, bias += 4)
      *acc++ = read_i32(bias) + (int32_t)mac_bitmap_bytes(0, &bits, x, &values, row_bytes);
    return (const uint8_t *)values;
  }
  uint8_t bit_byte = 0, bits_left = 0;  // a bitmap byte may straddle two rows
  for (uint8_t r = layer.out; r; r--, bias += 4) {
    __int24 sum = 0;
    const uint8_t *xc = x;
    uint8_t remaining = layer.in;
    while (remaining) {
      if (!bits_left && remaining >= 8) {  // whole bitmap bytes inside this row: the fast loop
        const uint8_t n_bytes = remaining >> 3;
        sum = mac_bitmap_bytes(sum, &bits, xc, &values, n_bytes);
        xc += 8 * n_bytes;
        remaining &= 7;
        continue;
      }
      if (!bits_left) {
        bit_byte = *bits++;
        bits_left = 8;
      }
      const uint8_t take = bits_left < remaining ? bits_left : remaining;
      const uint8_t chunk = take < bits_left ? bit_byte & (uint8_t)((1u << take) - 1) : bit_byte;
      sum = mac_bitmap_part(sum, chunk, xc, &values);
      bit_byte = (uint8_t)(bit_byte >> take);
      bits_left -= take;
      remaining -= take;
      xc += take;
    }
    *acc++ = read_i32(bias) + (int32_t)sum;
  }
  return (const uint8_t *)values;
}

__attribute__((noinline)) static const uint8_t *index_list_rows(const LayerRecord &layer, const uint8_t *x, int32_t *acc) {
  const uint8_t *index = layer.section;  // per row: u8 count, then that many column indices
  const int8_t *values = (const int8_t *)(layer.section + layer.out + layer.nnz);
  const uint8_t *bias = layer.bias;
  for (uint8_t r = layer.out; r; r--, bias += 4) {
    __int24 sum = 0;
    for (uint8_t count = *index++; count; count--) sum += (int16_t)(*values++ * x[*index++]);
    *acc++ = read_i32(bias) + (int32_t)sum;
  }
  return (const uint8_t *)values;
}

// §2.3 step 3 for a whole layer: ReLU, then (acc * M + R) >> s in u32, clamped to 255.
static void requantize_layer(const int32_t *acc, uint8_t *y, uint8_t out, uint16_t multiplier, uint8_t shift) {
  const uint32_t rounding = shift ? (uint32_t)1 << (shift - 1) : 0;
  // Whole-byte shifts are moves; only the rest is shifted bit by bit (~6 cycles per bit on the AVR).
  const uint8_t byte_shift = shift >> 3, bit_shift = shift & 7;
  do {
    const int32_t a = *acc++;
    uint8_t value = 0;
    if (a > 0) {
      // a * M mod 2^32 from two 16-bit multiplies (gcc would call a full 32x32 multiply).
      const uint32_t low = (uint32_t)(uint16_t)a * multiplier;
      const uint16_t high = (uint16_t)((uint32_t)a >> 16) * multiplier;
      uint32_t scaled = low + ((uint32_t)high << 16) + rounding;
      switch (byte_shift) {  // constant shifts: register moves
        case 3: scaled >>= 24; break;
        case 2: scaled >>= 16; break;
        case 1: scaled >>= 8; break;
      }
      for (uint8_t b = bit_shift; b; b--) scaled >>= 1;
      value = scaled > 255 ? 255 : (uint8_t)scaled;
    }
    *y++ = value;
  } while (--out);
}

// Runs a blob that passed check_blob() and prepare_for_inference() on `input` (n0 bytes). Hidden
// activations ping-pong between hidden_a and hidden_b (WIDEST_LAYER bytes each); `acc` (WIDEST_LAYER x
// i32) ends up holding the nL logits. Returns the class: the first index of the largest logit (§2.3 step 5).
static uint8_t run_model(const uint8_t *blob, const uint8_t *input, uint8_t *hidden_a, uint8_t *hidden_b,
                         int32_t *acc) {
  const uint8_t n_layers = blob[5];
  const uint8_t *sizes = blob + 6;
  const uint8_t *record = sizes + n_layers + 1;
  const uint8_t *x = input;
  for (uint8_t i = 0; i < n_layers; i++) {
    LayerRecord layer;
    layer.in = sizes[i];
    layer.out = sizes[i + 1];
    layer.encoding = record[0];
    layer.shift = record[1];
    layer.multiplier = read_u16(record + 2);
    layer.nnz = read_u16(record + 4);
    layer.bias = record + 6;
    layer.section = layer.bias + 4 * (uint16_t)layer.out;
    if (layer.encoding == ENCODING_DENSE) record = dense_rows(layer, x, acc);
    else if (layer.encoding == ENCODING_BITMAP) record = bitmap_rows(layer, x, acc);
    else record = index_list_rows(layer, x, acc);
    if (i == n_layers - 1) break;  // last layer: the accumulators are the logits (§2.3 step 4)
    uint8_t *y = (i & 1) ? hidden_b : hidden_a;
    requantize_layer(acc, y, layer.out, layer.multiplier, layer.shift);
    x = y;
  }
  const uint8_t classes = sizes[n_layers];
  uint8_t best = 0;
  for (uint8_t c = 1; c < classes; c++)
    if (acc[c] > acc[best]) best = c;
  return best;
}

#endif
