/**
 * Constant tables of the iq3 family (iq3_xxs, iq3_s), transcribed from ggml.
 *
 * Sources (ggml d99724f; the tables are unchanged in every ggml/llama.cpp revision read):
 * - `kgrid_256` / `kgrid_512`: the static tables inside `iq3xs_init_impl` (ggml/src/ggml-quants.c). Each entry packs
 *   the 4 lattice coordinates l0..l3 (3 bits each, l0 in the low bits) of one grid point.
 * - `kmask_iq2xs`, `ksigns_iq2xs`, `iq3xxs_grid`, `iq3s_grid`: ggml/src/ggml-common.h.
 *
 * `iq3xxs_grid` and `iq3s_grid` are not stored here: they are the same grid points as `kgrid_256` / `kgrid_512`
 * with each coordinate l mapped to one byte (`iq3s_grid`: 2l+1; `iq3xxs_grid`: 4, 12, 20, 28, 36, 44, 52, 62).
 * They are decoded on first use, and the tests check the decoded tables against checksums of the tables read in
 * ggml-common.h ({@link IQ3XXS_GRID_FNV1A}, {@link IQ3S_GRID_FNV1A}).
 */

/** @see kgrid_256 in iq3xs_init_impl (ggml/src/ggml-quants.c) */
// prettier-ignore
export const KGRID_256: Uint16Array = Uint16Array.of(
     0,     2,     4,     9,    11,    15,    16,    18,    25,    34,    59,    61,    65,    67,    72,    74,
    81,    85,    88,    90,    97,   108,   120,   128,   130,   132,   137,   144,   146,   153,   155,   159,
   169,   175,   189,   193,   199,   200,   202,   213,   248,   267,   287,   292,   303,   315,   317,   321,
   327,   346,   362,   413,   436,   456,   460,   462,   483,   497,   513,   515,   520,   522,   529,   531,
   536,   538,   540,   551,   552,   576,   578,   585,   592,   594,   641,   643,   648,   650,   657,   664,
   698,   704,   706,   720,   729,   742,   758,   769,   773,   808,   848,   852,   870,   889,   901,   978,
   992,  1024,  1026,  1033,  1035,  1040,  1042,  1046,  1049,  1058,  1089,  1091,  1093,  1096,  1098,  1105,
  1112,  1139,  1143,  1144,  1152,  1154,  1161,  1167,  1168,  1170,  1183,  1184,  1197,  1217,  1224,  1228,
  1272,  1276,  1309,  1323,  1347,  1367,  1377,  1404,  1473,  1475,  1486,  1509,  1537,  1544,  1546,  1553,
  1555,  1576,  1589,  1594,  1600,  1602,  1616,  1625,  1636,  1638,  1665,  1667,  1672,  1685,  1706,  1722,
  1737,  1755,  1816,  1831,  1850,  1856,  1862,  1874,  1901,  1932,  1950,  1971,  2011,  2032,  2052,  2063,
  2077,  2079,  2091,  2095,  2172,  2192,  2207,  2208,  2224,  2230,  2247,  2277,  2308,  2345,  2356,  2389,
  2403,  2424,  2501,  2504,  2506,  2520,  2570,  2593,  2616,  2624,  2630,  2646,  2669,  2700,  2714,  2746,
  2754,  2795,  2824,  2835,  2839,  2874,  2882,  2905,  2984,  3028,  3042,  3092,  3108,  3110,  3124,  3153,
  3185,  3215,  3252,  3288,  3294,  3364,  3397,  3434,  3483,  3523,  3537,  3587,  3589,  3591,  3592,  3610,
  3626,  3670,  3680,  3722,  3749,  3754,  3776,  3789,  3803,  3824,  3857,  3873,  3904,  3906,  3924,  3992,
);

/** @see kgrid_512 in iq3xs_init_impl (ggml/src/ggml-quants.c) */
// prettier-ignore
export const KGRID_512: Uint16Array = Uint16Array.of(
     0,     1,     2,     5,     7,     8,     9,    10,    12,    14,    16,    17,    21,    27,    32,    34,
    37,    39,    41,    43,    48,    50,    57,    60,    63,    64,    65,    66,    68,    72,    73,    77,
    80,    83,    87,    89,    93,   100,   113,   117,   122,   128,   129,   133,   135,   136,   139,   142,
   145,   149,   152,   156,   162,   165,   167,   169,   171,   184,   187,   195,   201,   205,   208,   210,
   217,   219,   222,   228,   232,   234,   247,   249,   253,   256,   267,   271,   273,   276,   282,   288,
   291,   297,   312,   322,   324,   336,   338,   342,   347,   353,   357,   359,   374,   379,   390,   393,
   395,   409,   426,   441,   448,   450,   452,   464,   466,   470,   475,   488,   492,   512,   513,   514,
   516,   520,   521,   523,   525,   527,   528,   530,   537,   540,   542,   556,   558,   561,   570,   576,
   577,   579,   582,   584,   588,   593,   600,   603,   609,   616,   618,   632,   638,   640,   650,   653,
   655,   656,   660,   666,   672,   675,   685,   688,   698,   705,   708,   711,   712,   715,   721,   727,
   728,   732,   737,   754,   760,   771,   773,   778,   780,   793,   795,   802,   806,   808,   812,   833,
   840,   843,   849,   856,   858,   873,   912,   916,   919,   932,   934,   961,   963,   968,   970,   977,
   989,   993,  1010,  1016,  1024,  1025,  1027,  1029,  1031,  1032,  1034,  1036,  1038,  1041,  1043,  1047,
  1048,  1050,  1057,  1059,  1061,  1064,  1066,  1079,  1080,  1083,  1085,  1088,  1090,  1096,  1099,  1103,
  1106,  1109,  1113,  1116,  1122,  1129,  1153,  1156,  1159,  1169,  1171,  1176,  1183,  1185,  1195,  1199,
  1209,  1212,  1216,  1218,  1221,  1225,  1234,  1236,  1241,  1243,  1250,  1256,  1270,  1281,  1287,  1296,
  1299,  1306,  1309,  1313,  1338,  1341,  1348,  1353,  1362,  1375,  1376,  1387,  1400,  1408,  1410,  1415,
  1425,  1453,  1457,  1477,  1481,  1494,  1496,  1507,  1512,  1538,  1545,  1547,  1549,  1551,  1554,  1561,
  1563,  1565,  1570,  1572,  1575,  1577,  1587,  1593,  1601,  1603,  1605,  1612,  1617,  1619,  1632,  1648,
  1658,  1662,  1664,  1674,  1680,  1690,  1692,  1704,  1729,  1736,  1740,  1745,  1747,  1751,  1752,  1761,
  1763,  1767,  1773,  1787,  1795,  1801,  1806,  1810,  1817,  1834,  1840,  1844,  1857,  1864,  1866,  1877,
  1882,  1892,  1902,  1915,  1934,  1953,  1985,  1987,  2000,  2002,  2013,  2048,  2052,  2058,  2064,  2068,
  2071,  2074,  2081,  2088,  2104,  2114,  2119,  2121,  2123,  2130,  2136,  2141,  2147,  2153,  2157,  2177,
  2179,  2184,  2189,  2193,  2203,  2208,  2223,  2226,  2232,  2244,  2249,  2251,  2256,  2258,  2265,  2269,
  2304,  2306,  2324,  2335,  2336,  2361,  2373,  2375,  2385,  2418,  2443,  2460,  2480,  2504,  2509,  2520,
  2531,  2537,  2562,  2568,  2572,  2578,  2592,  2596,  2599,  2602,  2614,  2620,  2625,  2627,  2629,  2634,
  2641,  2650,  2682,  2688,  2697,  2707,  2712,  2718,  2731,  2754,  2759,  2760,  2775,  2788,  2793,  2805,
  2811,  2817,  2820,  2832,  2842,  2854,  2890,  2902,  2921,  2923,  2978,  3010,  3012,  3026,  3081,  3083,
  3085,  3097,  3099,  3120,  3136,  3152,  3159,  3188,  3210,  3228,  3234,  3245,  3250,  3256,  3264,  3276,
  3281,  3296,  3349,  3363,  3378,  3392,  3395,  3420,  3440,  3461,  3488,  3529,  3531,  3584,  3588,  3591,
  3600,  3602,  3614,  3616,  3628,  3634,  3650,  3657,  3668,  3683,  3685,  3713,  3716,  3720,  3726,  3729,
  3736,  3753,  3778,  3802,  3805,  3819,  3841,  3845,  3851,  3856,  3880,  3922,  3938,  3970,  3993,  4032,
);

/** @see kmask_iq2xs (ggml/src/ggml-common.h) */
export const KMASK_IQ2XS: Uint8Array = Uint8Array.of(1, 2, 4, 8, 16, 32, 64, 128);

/**
 * 7 sign bits plus an 8th bit that makes the number of set bits even.
 * @see ksigns_iq2xs (ggml/src/ggml-common.h)
 */
// prettier-ignore
export const KSIGNS_IQ2XS: Uint8Array = Uint8Array.of(
    0, 129, 130,   3, 132,   5,   6, 135, 136,   9,  10, 139,  12, 141, 142,  15,
  144,  17,  18, 147,  20, 149, 150,  23,  24, 153, 154,  27, 156,  29,  30, 159,
  160,  33,  34, 163,  36, 165, 166,  39,  40, 169, 170,  43, 172,  45,  46, 175,
   48, 177, 178,  51, 180,  53,  54, 183, 184,  57,  58, 187,  60, 189, 190,  63,
  192,  65,  66, 195,  68, 197, 198,  71,  72, 201, 202,  75, 204,  77,  78, 207,
   80, 209, 210,  83, 212,  85,  86, 215, 216,  89,  90, 219,  92, 221, 222,  95,
   96, 225, 226,  99, 228, 101, 102, 231, 232, 105, 106, 235, 108, 237, 238, 111,
  240, 113, 114, 243, 116, 245, 246, 119, 120, 249, 250, 123, 252, 125, 126, 255,
);

/** Byte value of lattice coordinate l (0..7) in `iq3xxs_grid` (read off ggml-common.h). */
export const IQ3XXS_GRID_VALUES: Uint8Array = Uint8Array.of(4, 12, 20, 28, 36, 44, 52, 62);

/**
 * FNV-1a (32-bit) over the little-endian bytes of `iq3xxs_grid` (256 × u32) as printed in ggml/src/ggml-common.h,
 * computed from that text (0x04040404, 0x04040414, ..., 0x3e341c04).
 */
export const IQ3XXS_GRID_FNV1A = 0x49a45035;
/** FNV-1a (32-bit) over the little-endian bytes of `iq3s_grid` (512 × u32) of ggml/src/ggml-common.h (0x01010101, ..., 0x0f0f0101). */
export const IQ3S_GRID_FNV1A = 0x71cc6c89;

/** FNV-1a 32 over the little-endian bytes of a u32 table. */
export function fnv1a32(table: Uint32Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < table.length; i++) {
    const v = table[i];
    for (let b = 0; b < 4; b++) {
      h ^= (v >>> (8 * b)) & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h >>> 0;
}

/** Packs 4 bytes (byte i = `bytes[(kgrid >> 3i) & 7]`) into a u32, byte 0 lowest. */
function decodeGrid(kgrid: Uint16Array, values: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(kgrid.length);
  for (let k = 0; k < kgrid.length; k++) {
    let v = 0;
    for (let i = 0; i < 4; i++) v |= values[(kgrid[k] >> (3 * i)) & 7] << (8 * i);
    out[k] = v >>> 0;
  }
  return out;
}

let iq3xxsGrid: Uint32Array | null = null;
let iq3sGrid: Uint32Array | null = null;
let iq3xxsGridBytes: Uint8Array | null = null;
let iq3sGridBytes: Uint8Array | null = null;

/** `iq3xxs_grid` (ggml-common.h), decoded from {@link KGRID_256} on first use. */
export function getIq3xxsGrid(): Uint32Array {
  if (!iq3xxsGrid) iq3xxsGrid = decodeGrid(KGRID_256, IQ3XXS_GRID_VALUES);
  return iq3xxsGrid;
}

/** `iq3s_grid` (ggml-common.h), decoded from {@link KGRID_512} on first use (byte = 2l+1). */
export function getIq3sGrid(): Uint32Array {
  if (!iq3sGrid) iq3sGrid = decodeGrid(KGRID_512, [1, 3, 5, 7, 9, 11, 13, 15]);
  return iq3sGrid;
}

/** `iq3xxs_grid` as bytes (4 per entry, little-endian order as C reads `(const uint8_t *)(iq3xxs_grid + i)`). */
export function getIq3xxsGridBytes(): Uint8Array {
  if (!iq3xxsGridBytes) iq3xxsGridBytes = u32ToBytesLE(getIq3xxsGrid());
  return iq3xxsGridBytes;
}

/** `iq3s_grid` as bytes (4 per entry, little-endian). */
export function getIq3sGridBytes(): Uint8Array {
  if (!iq3sGridBytes) iq3sGridBytes = u32ToBytesLE(getIq3sGrid());
  return iq3sGridBytes;
}

function u32ToBytesLE(t: Uint32Array): Uint8Array {
  const out = new Uint8Array(t.length * 4);
  for (let k = 0; k < t.length; k++) {
    const v = t[k];
    out[4 * k] = v & 0xff;
    out[4 * k + 1] = (v >>> 8) & 0xff;
    out[4 * k + 2] = (v >>> 16) & 0xff;
    out[4 * k + 3] = (v >>> 24) & 0xff;
  }
  return out;
}
