#pragma once
// The head configurations every CPU typed test runs over (group sizes 1, 2, 3, 4, 7, 8, 16; head dims
// 15..256; value head dim below, above and not a multiple of the SIMD width).
#include "kvshare/core/heads.hpp"

#define KVSHARE_CPU_TEST_CONFIGS                                                                  \
    kvshare::heads<4, 4, 64>,          /* MHA, d 64                                         */    \
        kvshare::heads<8, 4, 128>,     /* GQA group 2                                       */    \
        kvshare::heads<8, 2, 128>,     /* GQA group 4                                       */    \
        kvshare::heads<16, 2, 64>,     /* GQA group 8                                       */    \
        kvshare::heads<6, 2, 80>,      /* group 3, d 80                                     */    \
        kvshare::heads<14, 2, 96>,     /* group 7, d 96                                     */    \
        kvshare::heads<8, 1, 128>,     /* MQA, group 8                                      */    \
        kvshare::heads<16, 1, 64>,     /* MQA, group 16 (wide decode tiles)                 */    \
        kvshare::heads<2, 1, 256>,     /* d 256                                             */    \
        kvshare::heads<4, 2, 128, 64>, /* d_v < d                                           */    \
        kvshare::heads<3, 3, 64, 96>,  /* MHA, d_v > d                                      */    \
        kvshare::heads<4, 2, 40, 24>,  /* d, d_v not multiples of 16                        */    \
        kvshare::heads<2, 2, 15, 9>,   /* odd d (bf16 falls back to the fp32 path)          */    \
        kvshare::heads<1, 1, 128>      /* a single head                                     */
