/*
 * embed.c - the built-in embedder (hashed character n-grams and words) and
 * the guards of the semantic cache; see embed.h.
 *
 * One tokenizer feeds both: it walks the bytes once, lowercases ASCII,
 * splits words, numbers and operators, expands contractions ("don't" gives
 * "do" "not"), reads number and operator words as digits and signs ("twelve
 * times 3" is "12 * 3"), drops a plural "s" when the singular is no known
 * word, and marks capitalised names (a capital not at the start of a
 * sentence, or a capital inside the word). Each token is then looked up once
 * (binary search) in one sorted lexicon that says whether it is a function
 * word (skipped by the embedder), a negation, a number or operator word, or
 * a member of a closed class the guards compare.
 *
 * The embedder adds, for every content token, its word feature (weight 1),
 * its character 3-, 4- and 5-grams with boundary marks ("<py", "pyt"...,
 * weight 1/sqrt(count) each, so a long word weighs as much as a short one)
 * and the pair it forms with the previous content token of the same message
 * (weight 1): words make paraphrases with other function words match, the
 * n-grams absorb typos and inflections, the pairs keep word order ("dog
 * bites man" is not "man bites dog"). Each feature's 64-bit hash picks a
 * dimension and a sign; the sum per dimension x becomes sign(x)*sqrt(|x|)
 * (sublinear term frequency, taken per dimension rather than per feature:
 * no table of counts, one pass) and the vector is scaled to unit length.
 */
#include "cache/embed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

/* ---- the lexicon -------------------------------------------------------- */

enum lx_kind { LX_STOP = 1, LX_NEG, LX_NUM, LX_OP, LX_CONTRAST };

typedef struct lx {
    uint64_t h; /* sy_fnv1a(SY_FNV_OFFSET, w) */
    const char *w;
    int kind;
    int32_t val; /* LX_NUM: the number; LX_OP: the sign; LX_CONTRAST: class << 8 | member */
} lx_t;

/* Sorted by the words' hash, so a lookup compares integers and then one
 * string (the unit test checks the order and the hashes). Contrast classes: 1 programming
 * languages, 2 units and currencies, 3 times, 4 opposites (member 2k and
 * 2k+1 are the two poles of pair k; words of one pole are synonyms). */
static const lx_t LEXICON[] = {
    {0x000e4b5f3607f485ULL, "severe", LX_CONTRAST, 1129},
    {0x00391e19133920b8ULL, "bad", LX_CONTRAST, 1037},
    {0x004c3dbe7cbbb5fbULL, "smaller", LX_CONTRAST, 1033},
    {0x00541119134fd259ULL, "big", LX_CONTRAST, 1032},
    {0x00541e19134fe870ULL, "bit", LX_CONTRAST, 553},
    {0x00612319135a7b4bULL, "buy", LX_CONTRAST, 1062},
    {0x00650d19135e3ec0ULL, "btc", LX_CONTRAST, 561},
    {0x0072c9a34c1b4441ULL, "older", LX_CONTRAST, 1040},
    {0x0115f96c90d8cc99ULL, "southern", LX_CONTRAST, 1073},
    {0x01359a3079f1d01eULL, "seven", LX_NUM, 7},
    {0x0178924a9c001dc0ULL, "younger", LX_CONTRAST, 1041},
    {0x01969b8677122719ULL, "monday", LX_CONTRAST, 784},
    {0x01a1e8653d8dd99cULL, "august", LX_CONTRAST, 799},
    {0x031bfb4d3cccc05bULL, "fahrenheit", LX_CONTRAST, 528},
    {0x03b42b0debc88fddULL, "past", LX_CONTRAST, 805},
    {0x03d9e794402c8f7cULL, "compound", LX_CONTRAST, 1141},
    {0x044cf1ad90502801ULL, "late", LX_CONTRAST, 1047},
    {0x0456d2ad905847d9ULL, "last", LX_CONTRAST, 1027},
    {0x05e1a3671457d992ULL, "received", LX_CONTRAST, 1079},
    {0x0650c3e541e645e0ULL, "eleven", LX_NUM, 11},
    {0x0657bda460a07117ULL, "april", LX_CONTRAST, 796},
    {0x06dbc8b46aaa21f9ULL, "onto", LX_STOP, 0},
    {0x06e79a213afafd4aULL, "tonight", LX_CONTRAST, 772},
    {0x07d55b19173bb8b0ULL, "mph", LX_CONTRAST, 554},
    {0x080f5019176d1e46ULL, "may", LX_STOP, 0},
    {0x080f5119176d1ff9ULL, "max", LX_CONTRAST, 1030},
    {0x080f6319176d3e8fULL, "man", LX_CONTRAST, 1086},
    {0x081d43191779458bULL, "men", LX_CONTRAST, 1086},
    {0x08566bfb5df8d6e4ULL, "outside", LX_CONTRAST, 1149},
    {0x08915907b53bb494ULL, "do", LX_STOP, 0},
    {0x08953407b53f5e8cULL, "gb", LX_CONTRAST, 551},
    {0x08953907b53f670bULL, "go", LX_CONTRAST, 265},
    {0x08985007b541c3f7ULL, "ft", LX_CONTRAST, 518},
    {0x089c3707b5458253ULL, "am", LX_STOP, 0},
    {0x089c3807b5458406ULL, "an", LX_STOP, 0},
    {0x089c4e07b545a968ULL, "at", LX_STOP, 0},
    {0x089c5507b545b54dULL, "as", LX_STOP, 0},
    {0x08a25b07b54a2b2dULL, "cm", LX_CONTRAST, 516},
    {0x08a62f07b54dc940ULL, "be", LX_STOP, 0},
    {0x08a64b07b54df8d4ULL, "by", LX_STOP, 0},
    {0x08a94307b5502113ULL, "my", LX_STOP, 0},
    {0x08a94d07b5503211ULL, "ms", LX_CONTRAST, 547},
    {0x08a95307b5503c43ULL, "mi", LX_CONTRAST, 514},
    {0x08a95607b550415cULL, "ml", LX_CONTRAST, 531},
    {0x08a95707b550430fULL, "mm", LX_CONTRAST, 517},
    {0x08a95c07b5504b8eULL, "mb", LX_CONTRAST, 550},
    {0x08a95f07b55050a7ULL, "me", LX_STOP, 0},
    {0x08a96107b550540dULL, "mg", LX_CONTRAST, 525},
    {0x08ad3e07b554016bULL, "lb", LX_CONTRAST, 523},
    {0x08b04c07b5564f0cULL, "oz", LX_CONTRAST, 524},
    {0x08b05407b5565ca4ULL, "or", LX_STOP, 0},
    {0x08b05807b5566370ULL, "on", LX_STOP, 0},
    {0x08b06007b5567108ULL, "of", LX_STOP, 0},
    {0x08b35907b5589afaULL, "no", LX_NEG, 0},
    {0x08b73007b55c3e26ULL, "if", LX_STOP, 0},
    {0x08b73807b55c4bbeULL, "in", LX_STOP, 0},
    {0x08b73e07b55c55f0ULL, "it", LX_STOP, 0},
    {0x08b74507b55c61d5ULL, "is", LX_STOP, 0},
    {0x08ba4607b55e995fULL, "hr", LX_CONTRAST, 540},
    {0x08ba5f07b55ec3daULL, "hi", LX_STOP, 0},
    {0x08baf25a48f53c70ULL, "eighteen", LX_NUM, 18},
    {0x08be3b07b5626f85ULL, "km", LX_CONTRAST, 513},
    {0x08be3c07b5627138ULL, "kb", LX_CONTRAST, 549},
    {0x08be4107b56279b7ULL, "kg", LX_CONTRAST, 521},
    {0x08c15507b564d18aULL, "js", LX_CONTRAST, 259},
    {0x08c43a07b566d980ULL, "up", LX_CONTRAST, 1030},
    {0x08c43d07b566de99ULL, "us", LX_STOP, 0},
    {0x08c68479664094eaULL, "biggest", LX_CONTRAST, 1032},
    {0x08c82e07b56aadf3ULL, "tb", LX_CONTRAST, 552},
    {0x08c83907b56ac0a4ULL, "to", LX_STOP, 0},
    {0x08c83d07b56ac770ULL, "ts", LX_CONTRAST, 260},
    {0x08cb5307b56d22a9ULL, "we", LX_STOP, 0},
    {0x08d53b07b5754e66ULL, "pm", LX_CONTRAST, 777},
    {0x08d54f07b5757062ULL, "py", LX_CONTRAST, 257},
    {0x08d93907b57933d7ULL, "so", LX_STOP, 0},
    {0x08ed4407b589ef92ULL, "yr", LX_CONTRAST, 544},
    {0x08ed4e07b58a0090ULL, "yd", LX_CONTRAST, 520},
    {0x08fc15bab4bf0835ULL, "nine", LX_NUM, 9},
    {0x09a13e18bfb48838ULL, "safe", LX_CONTRAST, 1088},
    {0x0a3f53080e9dc8eaULL, "erlang", LX_CONTRAST, 288},
    {0x0b4d7910d825900cULL, "spring", LX_CONTRAST, 780},
    {0x0ba8e96f5598f0c2ULL, "purchase", LX_CONTRAST, 1062},
    {0x0bc60e911959a7fcULL, "cool", LX_CONTRAST, 1043},
    {0x0bd108911963a54fULL, "cold", LX_CONTRAST, 1043},
    {0x0c4dee518ca3390cULL, "incorrect", LX_CONTRAST, 1093},
    {0x0c7e25d3e5516042ULL, "healthy", LX_CONTRAST, 1098},
    {0x0cdb1cf653978793ULL, "february", LX_CONTRAST, 794},
    {0x0d18faa2c3feaaf2ULL, "most", LX_CONTRAST, 1030},
    {0x0d1be7a2c400c080ULL, "more", LX_CONTRAST, 1030},
    {0x0d93dc68325b8ce6ULL, "seventeen", LX_NUM, 17},
    {0x0e115b719d2d6304ULL, "north", LX_CONTRAST, 1072},
    {0x0e18c1531bac7da9ULL, "risky", LX_CONTRAST, 1089},
    {0x0ea85472723d164eULL, "thick", LX_CONTRAST, 1120},
    {0x0f32ea296373a52eULL, "great", LX_CONTRAST, 1036},
    {0x0fa3391db68e4425ULL, "disabled", LX_CONTRAST, 1053},
    {0x1001f27928b3f995ULL, "feet", LX_CONTRAST, 518},
    {0x1160cd6baabd33e7ULL, "haskell", LX_CONTRAST, 272},
    {0x125083191daf6f61ULL, "low", LX_CONTRAST, 1031},
    {0x127284191dcc577aULL, "let", LX_STOP, 0},
    {0x12a71418cf8e1921ULL, "little", LX_CONTRAST, 1033},
    {0x12a991191dfbb001ULL, "lua", LX_CONTRAST, 275},
    {0x12faae3deb5be0a3ULL, "kilogram", LX_CONTRAST, 521},
    {0x13e5066810713e1dULL, "ounce", LX_CONTRAST, 524},
    {0x14f99467294fd0d0ULL, "gallon", LX_CONTRAST, 532},
    {0x168013968c700231ULL, "correct", LX_CONTRAST, 1092},
    {0x16a3d100c7befb90ULL, "cheapest", LX_CONTRAST, 1044},
    {0x1923443d4dbc1fd7ULL, "unsafe", LX_CONTRAST, 1089},
    {0x19f7991921bbcc99ULL, "our", LX_STOP, 0},
    {0x19fe06e3408e53d0ULL, "success", LX_CONTRAST, 1106},
    {0x1a08aa1921ca5cafULL, "one", LX_NUM, 1},
    {0x1a0fad1921d08076ULL, "old", LX_CONTRAST, 1040},
    {0x1a249b1921e2bdeaULL, "off", LX_CONTRAST, 1053},
    {0x1a2a9d1921e72cfeULL, "odd", LX_CONTRAST, 1101},
    {0x1b3e4d5eedd756bcULL, "divided", LX_OP, 47},
    {0x1ba65229592c08d9ULL, "female", LX_CONTRAST, 1087},
    {0x1c0eaee13f6455acULL, "kindly", LX_STOP, 0},
    {0x1c4b98deef5e330aULL, "nothing", LX_NEG, 0},
    {0x1d3b7e9137dffe1eULL, "nobody", LX_NEG, 0},
    {0x1e4989ef2e9592cbULL, "tiny", LX_CONTRAST, 1033},
    {0x1f6a59a2cea667b0ULL, "male", LX_CONTRAST, 1086},
    {0x1f71d5a9cecc1b0fULL, "light", LX_CONTRAST, 1116},
    {0x2047e5742b0fa82aULL, "millisecond", LX_CONTRAST, 547},
    {0x211598601e3fcc3cULL, "east", LX_CONTRAST, 1074},
    {0x2138d5192571b731ULL, "new", LX_CONTRAST, 1041},
    {0x215ad019258e9518ULL, "nor", LX_NEG, 0},
    {0x215ad519258e9d97ULL, "now", LX_CONTRAST, 804},
    {0x215ad619258e9f4aULL, "not", LX_NEG, 0},
    {0x217efcf4c89989cfULL, "decode", LX_CONTRAST, 1115},
    {0x21e596d73d67fe96ULL, "kcal", LX_CONTRAST, 566},
    {0x221a453989d76537ULL, "ascend", LX_CONTRAST, 1028},
    {0x2229e8613760a383ULL, "zero", LX_NUM, 0},
    {0x239ef1c4844aaf5dULL, "sterling", LX_CONTRAST, 558},
    {0x249092f25acbb312ULL, "indoor", LX_CONTRAST, 1148},
    {0x24b070ada2041cb0ULL, "left", LX_CONTRAST, 1070},
    {0x24dc7fada2297118ULL, "less", LX_CONTRAST, 1031},
    {0x256cadef3232570cULL, "that", LX_STOP, 0},
    {0x256cc7ef3232833aULL, "than", LX_STOP, 0},
    {0x2579c7ef323d0d96ULL, "then", LX_STOP, 0},
    {0x2587a7ef32491492ULL, "thin", LX_CONTRAST, 1121},
    {0x2587bcef32493841ULL, "this", LX_STOP, 0},
    {0x25c9bd2b571bf806ULL, "shorter", LX_CONTRAST, 1039},
    {0x25f1cfed2f5bed81ULL, "decrease", LX_CONTRAST, 1031},
    {0x27e6d63b8dfc31a6ULL, "reject", LX_CONTRAST, 1085},
    {0x29338c6c39286cb5ULL, "times", LX_OP, 42},
    {0x294cf801edb925dfULL, "immutable", LX_CONTRAST, 1139},
    {0x2952d22af0012917ULL, "afternoon", LX_CONTRAST, 774},
    {0x29a0c57b62177c1dULL, "bitcoin", LX_CONTRAST, 561},
    {0x2a2e8a5afcc8d89aULL, "current", LX_CONTRAST, 804},
    {0x2ba001192bd4cba4ULL, "inr", LX_CONTRAST, 562},
    {0x2bb3ea192be54d99ULL, "its", LX_STOP, 0},
    {0x2bc24ea06dd61037ULL, "complex", LX_CONTRAST, 1141},
    {0x2d19df18d4078885ULL, "sell", LX_CONTRAST, 1063},
    {0x2d1fe318d40bfaffULL, "sent", LX_CONTRAST, 1078},
    {0x2d1ff318d40c162fULL, "send", LX_CONTRAST, 1078},
    {0x2d5ebf2d00a77043ULL, "upcoming", LX_CONTRAST, 806},
    {0x2e4e99cc7428e2c5ULL, "hate", LX_CONTRAST, 1109},
    {0x2e9d32432ffe2a74ULL, "tablespoon", LX_CONTRAST, 535},
    {0x2eb5eacf4e121448ULL, "twenty", LX_NUM, 20},
    {0x2f0a2b145e13925aULL, "kilobyte", LX_CONTRAST, 549},
    {0x2f901d114a51abd3ULL, "dangerous", LX_CONTRAST, 1089},
    {0x2f92df0bac03dce7ULL, "reduce", LX_CONTRAST, 1031},
    {0x2fabc00ae6f84244ULL, "benefit", LX_CONTRAST, 1126},
    {0x2fce30cb8e3c8185ULL, "destroy", LX_CONTRAST, 1055},
    {0x2fedf26ef08343d4ULL, "equals", LX_OP, 61},
    {0x312bbbf1734e4187ULL, "october", LX_CONTRAST, 801},
    {0x317deb00e383702aULL, "volt", LX_CONTRAST, 569},
    {0x33366931fe43f0afULL, "warmer", LX_CONTRAST, 1042},
    {0x334a25192fe3767dULL, "hey", LX_STOP, 0},
    {0x335f24192ff5d0d4ULL, "hot", LX_CONTRAST, 1042},
    {0x33a8c53f28b94ec2ULL, "decompress", LX_CONTRAST, 1113},
    {0x34b255242a4ebd6eULL, "dynamic", LX_CONTRAST, 1137},
    {0x351c8d84b1e1e6c4ULL, "downgrade", LX_CONTRAST, 1105},
    {0x354140628d05e768ULL, "might", LX_STOP, 0},
    {0x36ede0d3f06e8d8fULL, "better", LX_CONTRAST, 1036},
    {0x3727147ffb9e6201ULL, "fifty", LX_NUM, 50},
    {0x376e34638197a4a6ULL, "latest", LX_CONTRAST, 1047},
    {0x38531e45b9a5bc4aULL, "elixir", LX_CONTRAST, 279},
    {0x39aed30743ae059cULL, "drawback", LX_CONTRAST, 1127},
    {0x3a76f5d9202dbd8aULL, "fifteen", LX_NUM, 15},
    {0x3bf0c0fc60df1173ULL, "centimeter", LX_CONTRAST, 516},
    {0x3bf29987a2e5ce8aULL, "advantage", LX_CONTRAST, 1126},
    {0x3c0d17bad169557bULL, "none", LX_NEG, 0},
    {0x3c10f2bad16cff73ULL, "noon", LX_CONTRAST, 778},
    {0x3c114a80781d9640ULL, "install", LX_CONTRAST, 1054},
    {0x3c37b5fc611b0165ULL, "centimetre", LX_CONTRAST, 516},
    {0x3c3fde156cff1a83ULL, "agree", LX_CONTRAST, 1110},
    {0x3c8103360f2f174fULL, "highest", LX_CONTRAST, 1030},
    {0x3d3f73adf2f341f4ULL, "smallest", LX_CONTRAST, 1033},
    {0x3d80fff619edbfbdULL, "week", LX_CONTRAST, 542},
    {0x3dae3b1936442fb7ULL, "kmh", LX_CONTRAST, 555},
    {0x3db014f61a15542eULL, "west", LX_CONTRAST, 1075},
    {0x3db3f1f61a19018cULL, "were", LX_STOP, 0},
    {0x3dee3d19367a1712ULL, "kph", LX_CONTRAST, 555},
    {0x3f2138476df2b019ULL, "disagree", LX_CONTRAST, 1111},
    {0x3f71052d617f9b2aULL, "above", LX_CONTRAST, 1030},
    {0x3f74142d6181ea7eULL, "about", LX_STOP, 0},
    {0x3fa741c8085af182ULL, "meter", LX_CONTRAST, 515},
    {0x3fda2cc80886276cULL, "metre", LX_CONTRAST, 515},
    {0x40023e0295ad720aULL, "billion", LX_NUM, 1000000000},
    {0x407c58cf58441b14ULL, "twelve", LX_NUM, 12},
    {0x407efecc7eb5764fULL, "hour", LX_CONTRAST, 540},
    {0x418338728eb9a12aULL, "those", LX_STOP, 0},
    {0x41def2de29651139ULL, "join", LX_CONTRAST, 1146},
    {0x41ead58e053a3434ULL, "cobol", LX_CONTRAST, 285},
    {0x425314f720ae7f7aULL, "percent", LX_OP, 37},
    {0x44693c8f0c10fc33ULL, "golang", LX_CONTRAST, 265},
    {0x44cc506c827badd4ULL, "earliest", LX_CONTRAST, 1046},
    {0x455177193a4ce4aaULL, "jpy", LX_CONTRAST, 559},
    {0x45a762ddd46e0275ULL, "erase", LX_CONTRAST, 1055},
    {0x469b6c6ada0c63e0ULL, "cooked", LX_CONTRAST, 1125},
    {0x46dc5f18e28e25bcULL, "show", LX_STOP, 0},
    {0x47e83eaa4b387e3bULL, "cancel", LX_CONTRAST, 1145},
    {0x480b227ca618e526ULL, "tomorrow", LX_CONTRAST, 771},
    {0x4a658105ca1038e5ULL, "multiply", LX_OP, 42},
    {0x4b6ebd1433656d9cULL, "quick", LX_CONTRAST, 1034},
    {0x4c52b1193dcce7e7ULL, "usd", LX_CONTRAST, 556},
    {0x4c5f6d0e704b8ddaULL, "decrypt", LX_CONTRAST, 1057},
    {0x4ce6531fbfddd605ULL, "read", LX_CONTRAST, 1066},
    {0x4d146526fcea605aULL, "positive", LX_CONTRAST, 1102},
    {0x4d290749288b71c1ULL, "shell", LX_CONTRAST, 271},
    {0x4dc264d81b1b2bceULL, "higher", LX_CONTRAST, 1030},
    {0x4e56b56ade29c0cbULL, "cooler", LX_CONTRAST, 1043},
    {0x4ed7b2bb186af8a4ULL, "quickest", LX_CONTRAST, 1034},
    {0x4f56ded6f9e56456ULL, "synchronous", LX_CONTRAST, 1134},
    {0x4f77b2414b2c8001ULL, "night", LX_CONTRAST, 776},
    {0x4f940e5e733e1cb7ULL, "worse", LX_CONTRAST, 1037},
    {0x4f941d5e733e3634ULL, "worst", LX_CONTRAST, 1037},
    {0x5002610184095353ULL, "ocaml", LX_CONTRAST, 286},
    {0x50d3cff48bccb2e5ULL, "centigrade", LX_CONTRAST, 527},
    {0x512aae45ed67cf17ULL, "python", LX_CONTRAST, 257},
    {0x51c7f0a504897757ULL, "shortest", LX_CONTRAST, 1039},
    {0x5225bd77a61f971cULL, "upload", LX_CONTRAST, 1058},
    {0x5437c29a5289d0a3ULL, "without", LX_NEG, 0},
    {0x5454497a2d152be3ULL, "shallow", LX_CONTRAST, 1143},
    {0x548ab5834617d9d7ULL, "century", LX_CONTRAST, 546},
    {0x549a160a4938aa56ULL, "least", LX_CONTRAST, 1031},
    {0x54ab030a4946fd40ULL, "leave", LX_CONTRAST, 1147},
    {0x561d518f24dca6f4ULL, "dislike", LX_CONTRAST, 1109},
    {0x56e4d21944537194ULL, "ten", LX_NUM, 10},
    {0x56f5c9194461d57cULL, "the", LX_STOP, 0},
    {0x56f9b2194465973eULL, "ton", LX_CONTRAST, 526},
    {0x56f9bc194465a83cULL, "top", LX_CONTRAST, 1030},
    {0x5706b41944702500ULL, "tsp", LX_CONTRAST, 536},
    {0x5714d319447c9709ULL, "two", LX_NUM, 2},
    {0x5925efaa676b42feULL, "ninety", LX_NUM, 90},
    {0x5926af696deb5938ULL, "impossible", LX_CONTRAST, 1097},
    {0x596b715935e2f5e7ULL, "northern", LX_CONTRAST, 1072},
    {0x5a73f1720ca645a3ULL, "three", LX_NUM, 3},
    {0x5b5c98ef514dbfa5ULL, "true", LX_CONTRAST, 1090},
    {0x5bb2f9bdf2fad1e9ULL, "minute", LX_CONTRAST, 539},
    {0x5ca15824688fca91ULL, "failure", LX_CONTRAST, 1107},
    {0x5de6737fcb438b3eULL, "joule", LX_CONTRAST, 567},
    {0x5e25aaf62bd99625ULL, "watt", LX_CONTRAST, 568},
    {0x5e399df62bea2918ULL, "warm", LX_CONTRAST, 1042},
    {0x5e96bbf3438afeceULL, "really", LX_STOP, 0},
    {0x5ea0f31948723d87ULL, "wet", LX_CONTRAST, 1118},
    {0x5eade819487cb532ULL, "was", LX_STOP, 0},
    {0x5ec9dd1948951d39ULL, "win", LX_CONTRAST, 1076},
    {0x5faa8d7396c967c8ULL, "neither", LX_NEG, 0},
    {0x6016dd18f0a125f5ULL, "soft", LX_CONTRAST, 1123},
    {0x6035dc18f0bbd4d1ULL, "some", LX_STOP, 0},
    {0x63b3b511bf95fb7dULL, "fortran", LX_CONTRAST, 284},
    {0x63d0916f4bb93a6aULL, "millilitre", LX_CONTRAST, 531},
    {0x64179a6f4bf54c58ULL, "milliliter", LX_CONTRAST, 531},
    {0x64cd628eeff3227cULL, "former", LX_CONTRAST, 805},
    {0x65f3bfb2e12268f2ULL, "decreasing", LX_CONTRAST, 1029},
    {0x65f5e9609823e47aULL, "south", LX_CONTRAST, 1073},
    {0x66f6600a53ea4aeaULL, "legal", LX_CONTRAST, 1094},
    {0x673ed60102776801ULL, "very", LX_STOP, 0},
    {0x6828a99c1e3216ffULL, "byte", LX_CONTRAST, 548},
    {0x69a867ea0a4ed8a3ULL, "celsius", LX_CONTRAST, 527},
    {0x6a771318f6fe2cb8ULL, "slow", LX_CONTRAST, 1035},
    {0x6aacbdfbb71a245dULL, "scala", LX_CONTRAST, 274},
    {0x6c23fd0e2713dcbeULL, "pull", LX_CONTRAST, 1065},
    {0x6c58ff4ef1990d1cULL, "sixty", LX_NUM, 60},
    {0x6c80030e2762459dULL, "push", LX_CONTRAST, 1064},
    {0x6ca4772e23f50ae3ULL, "hundred", LX_NUM, 100},
    {0x6d6483ed0a42c6caULL, "teaspoon", LX_CONTRAST, 536},
    {0x6dcaab493a75066dULL, "shall", LX_STOP, 0},
    {0x6dda6acfd42b6bffULL, "costly", LX_CONTRAST, 1045},
    {0x6f354f11c3a47fa3ULL, "raise", LX_CONTRAST, 1030},
    {0x6f8ade0f4d8daff7ULL, "cheaper", LX_CONTRAST, 1044},
    {0x700e3608cd0f77a3ULL, "crispy", LX_CONTRAST, 1122},
    {0x7056aadfe71a9272ULL, "fewer", LX_CONTRAST, 1031},
    {0x70d885806b56289eULL, "enabled", LX_CONTRAST, 1052},
    {0x711ad920bca32278ULL, "powershell", LX_CONTRAST, 283},
    {0x7268f9bc90cbb82fULL, "async", LX_CONTRAST, 1135},
    {0x7271c68759916228ULL, "insert", LX_CONTRAST, 1054},
    {0x735305aa63d7e26aULL, "cannot", LX_NEG, 0},
    {0x7360eecc9b38343dULL, "high", LX_CONTRAST, 1030},
    {0x740cb4d2322f6882ULL, "encrypt", LX_CONTRAST, 1056},
    {0x744a1c9a07b4ec6bULL, "quicker", LX_CONTRAST, 1034},
    {0x749c660c2c69c905ULL, "descend", LX_CONTRAST, 1029},
    {0x75f091ab8fb04d44ULL, "doing", LX_STOP, 0},
    {0x75f4589b951ab7c3ULL, "been", LX_STOP, 0},
    {0x76244e9b9543ca87ULL, "best", LX_CONTRAST, 1036},
    {0x76aaaa535714d805ULL, "right", LX_CONTRAST, 1071},
    {0x77b2621956621f2fULL, "php", LX_CONTRAST, 267},
    {0x782e6ca8b0d19235ULL, "unlock", LX_CONTRAST, 1081},
    {0x7aa0305bdb91f8acULL, "matlab", LX_CONTRAST, 282},
    {0x7aa8ee5e8b93b862ULL, "would", LX_STOP, 0},
    {0x7c324d8022a76537ULL, "final", LX_CONTRAST, 1027},
    {0x7c5129c79bb2c83fULL, "november", LX_CONTRAST, 802},
    {0x7c64634977425edcULL, "year", LX_CONTRAST, 544},
    {0x7cd585795c62c5c3ULL, "largest", LX_CONTRAST, 1032},
    {0x7d6ce172e098998cULL, "small", LX_CONTRAST, 1033},
    {0x7e5f7abe09509b09ULL, "accept", LX_CONTRAST, 1084},
    {0x7e73e8ac5b20c179ULL, "sunday", LX_CONTRAST, 790},
    {0x7f01329c842db8f0ULL, "deserialize", LX_CONTRAST, 1115},
    {0x7f3359536a80d41cULL, "early", LX_CONTRAST, 1046},
    {0x7f7d77d7c2a03db7ULL, "upgrade", LX_CONTRAST, 1104},
    {0x7f845078d7a5c0b5ULL, "from", LX_STOP, 0},
    {0x7fd823b606d64b6cULL, "kotlin", LX_CONTRAST, 269},
    {0x80014ec71434b8e5ULL, "youngest", LX_CONTRAST, 1041},
    {0x80bc85cc11c1a482ULL, "huge", LX_CONTRAST, 1032},
    {0x80ce4195b73a1f7bULL, "successful", LX_CONTRAST, 1106},
    {0x8103627a900d60f7ULL, "million", LX_NUM, 1000000},
    {0x8156a862b7957cafULL, "minus", LX_OP, 45},
    {0x817f647aad899997ULL, "hotter", LX_CONTRAST, 1042},
    {0x81a1af62b7d5740eULL, "minor", LX_CONTRAST, 1128},
    {0x81ca2e4420cc4e1bULL, "lowest", LX_CONTRAST, 1031},
    {0x823b7c195ce1fb72ULL, "sec", LX_CONTRAST, 538},
    {0x82488b195cec9f4bULL, "six", LX_NUM, 6},
    {0x82647f195d05059fULL, "sql", LX_CONTRAST, 270},
    {0x82e3db763702dff1ULL, "chewy", LX_CONTRAST, 1123},
    {0x8305ce76371fb040ULL, "cheap", LX_CONTRAST, 1044},
    {0x83d83c8556f2c5adULL, "buying", LX_CONTRAST, 1062},
    {0x849e63a4b31eaec2ULL, "weekend", LX_CONTRAST, 791},
    {0x84ca5683ab0358d2ULL, "also", LX_STOP, 0},
    {0x84d3dbcd121dd01bULL, "descending", LX_CONTRAST, 1029},
    {0x85530f5090e836c5ULL, "closed", LX_CONTRAST, 1049},
    {0x85615b6730a7bfe5ULL, "dark", LX_CONTRAST, 1117},
    {0x85616c6730a7dcc8ULL, "dart", LX_CONTRAST, 278},
    {0x8628f5a42e26c3b4ULL, "kelvin", LX_CONTRAST, 529},
    {0x87a27338c68fbfcdULL, "bigger", LX_CONTRAST, 1032},
    {0x87ad347436f18212ULL, "larger", LX_CONTRAST, 1032},
    {0x8861e45cd97460bfULL, "safely", LX_CONTRAST, 1088},
    {0x888bb1cc15ef7930ULL, "html", LX_CONTRAST, 276},
    {0x88c547cb1cf17738ULL, "slowest", LX_CONTRAST, 1035},
    {0x88f631787d4aaf77ULL, "outdoor", LX_CONTRAST, 1149},
    {0x89d7ed7f996f1d41ULL, "first", LX_CONTRAST, 1026},
    {0x89f6c11960ff5191ULL, "raw", LX_CONTRAST, 1124},
    {0x8a04ac19610b6b3eULL, "rmb", LX_CONTRAST, 560},
    {0x8b85f96a3d793a7eULL, "rupee", LX_CONTRAST, 562},
    {0x8c22ef0da88b0d1dULL, "poor", LX_CONTRAST, 1037},
    {0x8c7189a4b7506215ULL, "weekday", LX_CONTRAST, 792},
    {0x8c75d56c93ddbd8bULL, "newest", LX_CONTRAST, 1041},
    {0x8c9e09b72e913bdaULL, "lower", LX_CONTRAST, 1031},
    {0x8d0c149470d44f94ULL, "summer", LX_CONTRAST, 781},
    {0x8d9ced2965afea3bULL, "yours", LX_STOP, 0},
    {0x8da9f12965ba7b63ULL, "young", LX_CONTRAST, 1041},
    {0x8e5a5d5c0bd446efULL, "evening", LX_CONTRAST, 775},
    {0x8e68b824b99140a1ULL, "ascending", LX_CONTRAST, 1028},
    {0x9080e6145a747450ULL, "quart", LX_CONTRAST, 533},
    {0x9092e9a4e1895990ULL, "march", LX_CONTRAST, 795},
    {0x926e361ad17839c9ULL, "pricey", LX_CONTRAST, 1045},
    {0x95aa9bff4a37e14fULL, "slower", LX_CONTRAST, 1035},
    {0x96293f795497f2abULL, "thousand", LX_NUM, 1000},
    {0x982189de5a2647c5ULL, "java", LX_CONTRAST, 261},
    {0x9868ba6096912ce7ULL, "encode", LX_CONTRAST, 1114},
    {0x98d0182ec1071c5dULL, "january", LX_CONTRAST, 793},
    {0x9a7cde9baa54bd5fULL, "bash", LX_CONTRAST, 271},
    {0x9a848d5e6672b3deULL, "begin", LX_CONTRAST, 1050},
    {0x9ac0c4e3d910eb9bULL, "inexpensive", LX_CONTRAST, 1044},
    {0x9adc743a805ca65cULL, "multiplied", LX_OP, 42},
    {0x9be8c5f64f26c30fULL, "what", LX_STOP, 0},
    {0x9c7ddd325bba7294ULL, "disadvantage", LX_CONTRAST, 1127},
    {0x9ce4d6720e9c9118ULL, "good", LX_CONTRAST, 1036},
    {0x9da66b738ed71cf0ULL, "longer", LX_CONTRAST, 1038},
    {0x9ec2699513c0f9c3ULL, "close", LX_CONTRAST, 1049},
    {0x9ee71cec3834bb69ULL, "later", LX_CONTRAST, 1047},
    {0xa07e248fa183d5e8ULL, "inche", LX_CONTRAST, 519},
    {0xa0d9822cb772adeaULL, "julia", LX_CONTRAST, 281},
    {0xa0eff7498c7eb219ULL, "yard", LX_CONTRAST, 520},
    {0xa17899510bcc6527ULL, "gigabyte", LX_CONTRAST, 551},
    {0xa2d9c484633b9f77ULL, "wednesday", LX_CONTRAST, 786},
    {0xa333ffaec488737aULL, "harmful", LX_CONTRAST, 1089},
    {0xa3d749275dea5873ULL, "clojure", LX_CONTRAST, 287},
    {0xa411597d0674521eULL, "today", LX_CONTRAST, 770},
    {0xa41635a24b4ea2d8ULL, "swift", LX_CONTRAST, 268},
    {0xa430d84680aabd0bULL, "hello", LX_STOP, 0},
    {0xa43a103dd3b5b38fULL, "morning", LX_CONTRAST, 773},
    {0xa49985ef4cee20bdULL, "second", LX_CONTRAST, 538},
    {0xa58f734ba19f030aULL, "harmless", LX_CONTRAST, 1088},
    {0xa5c0590db6f268b5ULL, "plus", LX_OP, 43},
    {0xa5c90667425fe82fULL, "deep", LX_CONTRAST, 1142},
    {0xa5f5dafcaa01716aULL, "should", LX_STOP, 0},
    {0xa60ac5526987a29dULL, "myself", LX_STOP, 0},
    {0xa6190af6555abf8dULL, "will", LX_STOP, 0},
    {0xa66b06f655a0c2e9ULL, "with", LX_STOP, 0},
    {0xa7161c78676d54f5ULL, "thirty", LX_NUM, 30},
    {0xa74ac2b0c617d616ULL, "wrong", LX_CONTRAST, 1093},
    {0xa8101b6dc1dd798eULL, "enable", LX_CONTRAST, 1052},
    {0xa871454e3eeba7e1ULL, "unzip", LX_CONTRAST, 1113},
    {0xa9b4194ecfe6716dULL, "under", LX_CONTRAST, 1031},
    {0xa9c799a872d9cd32ULL, "friday", LX_CONTRAST, 788},
    {0xaa56085293d161cdULL, "increase", LX_CONTRAST, 1030},
    {0xaa7b14b81abbff91ULL, "asynchronous", LX_CONTRAST, 1135},
    {0xaa851578efea8575ULL, "five", LX_NUM, 5},
    {0xab6ee7831693ce68ULL, "calorie", LX_CONTRAST, 566},
    {0xac2d4d4a4679af01ULL, "currently", LX_CONTRAST, 804},
    {0xac4f4292dd3d2999ULL, "millimetre", LX_CONTRAST, 517},
    {0xac85085e70d64908ULL, "being", LX_STOP, 0},
    {0xac906592dd74fc07ULL, "millimeter", LX_CONTRAST, 517},
    {0xadd8f636db2a2770ULL, "thanks", LX_STOP, 0},
    {0xadfd3ac4ae0d3b9fULL, "simple", LX_CONTRAST, 1140},
    {0xaeff04220f65dfe4ULL, "faster", LX_CONTRAST, 1034},
    {0xaf1f52191db2bcc5ULL, "stop", LX_CONTRAST, 1051},
    {0xaf63da4c8601e926ULL, "g", LX_CONTRAST, 522},
    {0xaf63dc4c8601ec8cULL, "a", LX_STOP, 0},
    {0xaf63de4c8601eff2ULL, "c", LX_CONTRAST, 262},
    {0xaf63e14c8601f50bULL, "l", LX_CONTRAST, 530},
    {0xaf63e44c8601fa24ULL, "i", LX_STOP, 0},
    {0xafba98e8192cc656ULL, "saturday", LX_CONTRAST, 789},
    {0xb0016dad2eb97a5aULL, "negative", LX_CONTRAST, 1103},
    {0xb0408fec4209f8d4ULL, "large", LX_CONTRAST, 1032},
    {0xb1ecd68e447facbeULL, "could", LX_STOP, 0},
    {0xb3348daa22a26eebULL, "litre", LX_CONTRAST, 530},
    {0xb3679caa22cde201ULL, "liter", LX_CONTRAST, 530},
    {0xb4c8274452118aeaULL, "javascript", LX_CONTRAST, 259},
    {0xb53f77197981b277ULL, "yen", LX_CONTRAST, 559},
    {0xb5617c19799ea15cULL, "you", LX_STOP, 0},
    {0xb5fae2c14238b978ULL, "false", LX_CONTRAST, 1091},
    {0xb653a6d56c698c31ULL, "nineteen", LX_NUM, 19},
    {0xb66c6ca292e2e7a8ULL, "must", LX_STOP, 0},
    {0xb7f826c8945cdb05ULL, "seventy", LX_NUM, 70},
    {0xb8e91f5bb7896755ULL, "longest", LX_CONTRAST, 1038},
    {0xb93a12b0d06caefcULL, "write", LX_CONTRAST, 1067},
    {0xb9966417960e2bb2ULL, "csharp", LX_CONTRAST, 264},
    {0xba0df35ef8de20b1ULL, "kilometer", LX_CONTRAST, 513},
    {0xba48045ef90fb5dbULL, "kilometre", LX_CONTRAST, 513},
    {0xba6f7ff57aa291d9ULL, "download", LX_CONTRAST, 1059},
    {0xbed1c3d8f3005536ULL, "thirteen", LX_NUM, 13},
    {0xbef3ff281d2d1fc1ULL, "fourteen", LX_NUM, 14},
    {0xbf2c3e5eb2294915ULL, "woman", LX_CONTRAST, 1087},
    {0xbf30cd0dc532e760ULL, "pint", LX_CONTRAST, 537},
    {0xbf3a1e5eb2355011ULL, "women", LX_CONTRAST, 1087},
    {0xbf5c99ad695db7d6ULL, "like", LX_CONTRAST, 1108},
    {0xbf82010f6f71eae9ULL, "after", LX_CONTRAST, 1069},
    {0xbfc4de1f6f354d2dULL, "ruby", LX_CONTRAST, 266},
    {0xbffedf1f6f66c727ULL, "rust", LX_CONTRAST, 258},
    {0xc08b0bc018371359ULL, "uninstall", LX_CONTRAST, 1055},
    {0xc1379be02a1ed4b9ULL, "fastest", LX_CONTRAST, 1034},
    {0xc3081718f06803e7ULL, "eur", LX_CONTRAST, 557},
    {0xc4361a5b5c15e1ffULL, "dollar", LX_CONTRAST, 556},
    {0xc4d884d268d517a1ULL, "midnight", LX_CONTRAST, 779},
    {0xc534816d6d11e97bULL, "static", LX_CONTRAST, 1136},
    {0xc5a11c2dd9ab8cecULL, "private", LX_CONTRAST, 1133},
    {0xc5d4635e7efb69d2ULL, "below", LX_CONTRAST, 1031},
    {0xc71bef1c7cd467a7ULL, "include", LX_CONTRAST, 1082},
    {0xc8679aea66b1101eULL, "december", LX_CONTRAST, 803},
    {0xc92fe3ad0447b657ULL, "minimum", LX_CONTRAST, 1031},
    {0xca533118f426093eULL, "dry", LX_CONTRAST, 1119},
    {0xca5b0c724bd522a3ULL, "thank", LX_STOP, 0},
    {0xca8d3918f4578f1dULL, "day", LX_CONTRAST, 541},
    {0xcaa82c18f46e40beULL, "did", LX_STOP, 0},
    {0xcadf66f497884349ULL, "decade", LX_CONTRAST, 545},
    {0xcaed30eedddfe2e6ULL, "increasing", LX_CONTRAST, 1028},
    {0xcb2092fb31c7f1cfULL, "writing", LX_CONTRAST, 1067},
    {0xcbd8031e3d026dc9ULL, "never", LX_NEG, 0},
    {0xcc6ff6c2d8baa9f7ULL, "thursday", LX_CONTRAST, 787},
    {0xce14f5ad70f6ece2ULL, "lock", LX_CONTRAST, 1080},
    {0xce3adbad71178ff1ULL, "love", LX_CONTRAST, 1108},
    {0xce4bd7ad7125fc58ULL, "lose", LX_CONTRAST, 1077},
    {0xce4be8ad7126193bULL, "lost", LX_CONTRAST, 1077},
    {0xce4df919876f7e91ULL, "zig", LX_CONTRAST, 280},
    {0xce4e0a19876f9b74ULL, "zip", LX_CONTRAST, 1112},
    {0xce910fef00ef07d0ULL, "tbsp", LX_CONTRAST, 535},
    {0xce989e88581f9422ULL, "which", LX_STOP, 0},
    {0xcea60e1987ba1816ULL, "zsh", LX_CONTRAST, 271},
    {0xcec2c76080be0018ULL, "euro", LX_CONTRAST, 557},
    {0xcfdedd722b3407fcULL, "give", LX_STOP, 0},
    {0xd1376826789a1830ULL, "divide", LX_OP, 47},
    {0xd23bb0589f3278e7ULL, "upper", LX_CONTRAST, 1030},
    {0xd3470d49a88be12aULL, "your", LX_STOP, 0},
    {0xd3ac3c45566efde9ULL, "mutable", LX_CONTRAST, 1138},
    {0xd4e26318faaa79f7ULL, "get", LX_STOP, 0},
    {0xd4e66518faae6634ULL, "gbp", LX_CONTRAST, 558},
    {0xd4f76718fabcdccdULL, "got", LX_STOP, 0},
    {0xd4ff9dd3e1327203ULL, "please", LX_STOP, 0},
    {0xd52e23a5083356c2ULL, "major", LX_CONTRAST, 1129},
    {0xd59af160841ae311ULL, "even", LX_CONTRAST, 1100},
    {0xd5cfc0c67729664aULL, "external", LX_CONTRAST, 1131},
    {0xd649421e436df70aULL, "newer", LX_CONTRAST, 1041},
    {0xd69be132a21eab59ULL, "illegal", LX_CONTRAST, 1095},
    {0xd7338946b42394f4ULL, "failed", LX_CONTRAST, 1107},
    {0xd88061d4eab33056ULL, "future", LX_CONTRAST, 806},
    {0xd89aa06245afb2beULL, "before", LX_CONTRAST, 1068},
    {0xd8d75d5628b5cf5bULL, "franc", LX_CONTRAST, 565},
    {0xda4e15a2a78ede96ULL, "mine", LX_STOP, 0},
    {0xda5521a2a79511a8ULL, "mile", LX_CONTRAST, 514},
    {0xda5522a2a795135bULL, "mild", LX_CONTRAST, 1128},
    {0xda793c193643e93aULL, "sync", LX_CONTRAST, 1134},
    {0xdb702abe04d21651ULL, "megabyte", LX_CONTRAST, 550},
    {0xdb87c7879569960dULL, "inside", LX_CONTRAST, 1148},
    {0xdbf021fa49d5d29fULL, "eastern", LX_CONTRAST, 1074},
    {0xdc04126761bb7455ULL, "down", LX_CONTRAST, 1031},
    {0xdc33f56761e466d0ULL, "does", LX_STOP, 0},
    {0xdcaf9735804655b5ULL, "pound", LX_CONTRAST, 523},
    {0xdcb27818fed9da90ULL, "for", LX_STOP, 0},
    {0xdd11fc790c24f419ULL, "foot", LX_CONTRAST, 518},
    {0xdd187f8004b1c0eaULL, "possible", LX_CONTRAST, 1096},
    {0xdd33fe790c41dde5ULL, "four", LX_NUM, 4},
    {0xde12761aa2c768cdULL, "thicken", LX_CONTRAST, 1120},
    {0xde4de77a5252ceceULL, "oldest", LX_CONTRAST, 1040},
    {0xde579928dcd18ea3ULL, "crunchy", LX_CONTRAST, 1122},
    {0xdec0011d2ec995a1ULL, "maximum", LX_CONTRAST, 1030},
    {0xdf040ecda350ea5bULL, "earlier", LX_CONTRAST, 1046},
    {0xdfc4690dd7103118ULL, "perl", LX_CONTRAST, 273},
    {0xe08a40f0f6141500ULL, "internal", LX_CONTRAST, 1130},
    {0xe117b24625d0110aULL, "bottom", LX_CONTRAST, 1031},
    {0xe24a7be558fdba9bULL, "selling", LX_CONTRAST, 1063},
    {0xe59367ea12bc61ccULL, "winter", LX_CONTRAST, 783},
    {0xe6f79719051ff286ULL, "and", LX_STOP, 0},
    {0xe6f7b419052023cdULL, "any", LX_STOP, 0},
    {0xe70bc3190530e654ULL, "add", LX_CONTRAST, 1054},
    {0xe715be190539325aULL, "ago", LX_CONTRAST, 805},
    {0xe727e4afb3c3a6afULL, "forty", LX_NUM, 40},
    {0xe745c919056268cdULL, "aud", LX_CONTRAST, 564},
    {0xe756c8190570da4dULL, "are", LX_STOP, 0},
    {0xe7719fd4d051bc35ULL, "western", LX_CONTRAST, 1075},
    {0xe8f90a2658621fe9ULL, "exclude", LX_CONTRAST, 1083},
    {0xe95622654a9246a3ULL, "disable", LX_CONTRAST, 1053},
    {0xe9a5821970887f1bULL, "reading", LX_CONTRAST, 1066},
    {0xeaa3e4d73c9e2ce0ULL, "september", LX_CONTRAST, 800},
    {0xeaee9e725db25b5dULL, "there", LX_STOP, 0},
    {0xeaf1ba725db4c0c8ULL, "these", LX_STOP, 0},
    {0xeaf55eddf815959fULL, "just", LX_STOP, 0},
    {0xeb1369ddf82ea5dfULL, "july", LX_CONTRAST, 798},
    {0xeb1a51ddf8349bc5ULL, "june", LX_CONTRAST, 797},
    {0xec5f63ffe7e97248ULL, "previous", LX_CONTRAST, 805},
    {0xedb2d39755161f73ULL, "export", LX_CONTRAST, 1061},
    {0xee5d97ad45ad251fULL, "start", LX_CONTRAST, 1050},
    {0xeef9bb345fac064dULL, "compress", LX_CONTRAST, 1112},
    {0xeef9d1358ae7b4e6ULL, "power", LX_OP, 94},
    {0xef0166791679f92dULL, "fail", LX_CONTRAST, 1107},
    {0xef0c40791683c020ULL, "fall", LX_CONTRAST, 782},
    {0xef5a4a7916c5f26fULL, "fast", LX_CONTRAST, 1034},
    {0xef957fd72160ec80ULL, "kilo", LX_CONTRAST, 521},
    {0xf1a2a766dcd55bacULL, "drop", LX_CONTRAST, 1055},
    {0xf26bab9be1a63fcbULL, "eighty", LX_NUM, 80},
    {0xf37fe7492a346108ULL, "yuan", LX_CONTRAST, 560},
    {0xf381c587b6bd5cc4ULL, "colder", LX_CONTRAST, 1043},
    {0xf3fe6b5fdb85d50aULL, "delete", LX_CONTRAST, 1055},
    {0xf40c43ab46208b49ULL, "dozen", LX_NUM, 12},
    {0xf40f58b9d9b53c09ULL, "milligram", LX_CONTRAST, 525},
    {0xf41ee7de39e56a02ULL, "typescript", LX_CONTRAST, 260},
    {0xf4b72165f60f5b60ULL, "public", LX_CONTRAST, 1132},
    {0xf4bdc3936faf56a5ULL, "month", LX_CONTRAST, 543},
    {0xf4ccee651cc133fdULL, "serious", LX_CONTRAST, 1129},
    {0xf4d30088534a1af4ULL, "import", LX_CONTRAST, 1060},
    {0xf5a5f4190cb0d4c0ULL, "css", LX_CONTRAST, 277},
    {0xf5a6c8c57a9061a3ULL, "into", LX_STOP, 0},
    {0xf5a8fd190cb319e2ULL, "cpp", LX_CONTRAST, 263},
    {0xf5b9fb190cc189afULL, "cup", LX_CONTRAST, 534},
    {0xf5e2f1190ce47dc5ULL, "can", LX_STOP, 0},
    {0xf5e2f7190ce487f7ULL, "cad", LX_CONTRAST, 563},
    {0xf5e7afc57ac7ce1dULL, "inch", LX_CONTRAST, 519},
    {0xf5faf7190cf919d8ULL, "chf", LX_CONTRAST, 565},
    {0xf60202190cff4b37ULL, "cny", LX_CONTRAST, 560},
    {0xf67bc0d724ca33eaULL, "know", LX_STOP, 0},
    {0xf6915548f781cd55ULL, "short", LX_CONTRAST, 1039},
    {0xf74e5feadea773fdULL, "create", LX_CONTRAST, 1054},
    {0xf820bb42c215c64bULL, "unhealthy", LX_CONTRAST, 1099},
    {0xf84f97b4633670e9ULL, "open", LX_CONTRAST, 1048},
    {0xf8deac21c8238342ULL, "receive", LX_CONTRAST, 1079},
    {0xf945458585f62267ULL, "yesterday", LX_CONTRAST, 769},
    {0xf9d3d5f345bd5c0eULL, "renew", LX_CONTRAST, 1144},
    {0xfa09c7954013cdf0ULL, "eight", LX_NUM, 8},
    {0xfa48fcef19cf1ae2ULL, "tell", LX_STOP, 0},
    {0xfb55fb7d3810912fULL, "tonne", LX_CONTRAST, 526},
    {0xfb6f967243f4239eULL, "gram", LX_CONTRAST, 522},
    {0xfcdb73fa0ea13ab3ULL, "autumn", LX_CONTRAST, 782},
    {0xfda33ef9208a7011ULL, "terabyte", LX_CONTRAST, 552},
    {0xfe25eee7f74fa11eULL, "expensive", LX_CONTRAST, 1045},
    {0xfe5b4b1147e678ebULL, "sixteen", LX_NUM, 16},
    {0xfe8267bd7a6af710ULL, "tuesday", LX_CONTRAST, 785},
    {0xffc69f5e5d28bf01ULL, "serialize", LX_CONTRAST, 1114},
    {0xfff83d536a1d457dULL, "remove", LX_CONTRAST, 1055},
};

#define LEXICON_N (sizeof LEXICON / sizeof LEXICON[0])

static const lx_t *lx_find(const char *w, size_t len)
{
    uint64_t h = sy_fnv1a(SY_FNV_OFFSET, w, len);
    size_t lo = 0, hi = LEXICON_N;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (LEXICON[mid].h < h)
            lo = mid + 1;
        else if (LEXICON[mid].h > h)
            hi = mid;
        else
            return strcmp(LEXICON[mid].w, w) == 0 ? &LEXICON[mid] : NULL;
    }
    return NULL;
}

int sy__embed_lexicon_check(void)
{
    for (size_t i = 0; i < LEXICON_N; i++) {
        if (LEXICON[i].h != sy_fnv1a(SY_FNV_OFFSET, LEXICON[i].w, strlen(LEXICON[i].w)))
            return -1;
        if (i > 0 && LEXICON[i - 1].h >= LEXICON[i].h)
            return -1;
    }
    return 0;
}

/* ---- the tokenizer ------------------------------------------------------ */

#define TOK_MAX 64

enum tok_kind { TK_WORD = 0, TK_NUM, TK_OP };

typedef struct tok {
    char w[TOK_MAX]; /* lowercased, NUL-terminated, truncated to TOK_MAX-1 */
    size_t len;
    int kind;
    int entity;     /* a capitalised name */
    const lx_t *lx; /* its lexicon entry, or NULL */
} tok_t;

typedef void (*tok_cb)(void *ud, const tok_t *t);

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static size_t apostrophe_at(const unsigned char *s, size_t n, size_t i)
{
    if (s[i] == '\'')
        return 1;
    if (i + 2 < n && s[i] == 0xe2 && s[i + 1] == 0x80 && s[i + 2] == 0x99) /* U+2019 */
        return 3;
    return 0;
}

/* Emit a word token: look it up, fall back to its singular, map number and
 * operator words to TK_NUM / TK_OP. */
static void emit_word(tok_t *t, tok_cb cb, void *ud)
{
    t->kind = TK_WORD;
    t->lx = lx_find(t->w, t->len);
    if (!t->lx && t->len > 3 && t->w[t->len - 1] == 's' && t->w[t->len - 2] != 's' &&
        t->w[t->len - 2] != 'u' && t->w[t->len - 2] != 'i') {
        t->w[--t->len] = '\0';
        t->lx = lx_find(t->w, t->len);
    }
    if (t->lx && t->lx->kind == LX_NUM) {
        int n = snprintf(t->w, sizeof t->w, "%ld", (long)t->lx->val);
        t->len = (size_t)n;
        t->kind = TK_NUM;
        t->entity = 0;
        t->lx = NULL;
    } else if (t->lx && t->lx->kind == LX_OP) {
        t->w[0] = (char)t->lx->val;
        t->w[1] = '\0';
        t->len = 1;
        t->kind = TK_OP;
        t->entity = 0;
        t->lx = NULL;
    }
    cb(ud, t);
}

static void set_word(tok_t *t, const unsigned char *p, size_t n)
{
    t->len = n < TOK_MAX - 1 ? n : TOK_MAX - 1;
    for (size_t i = 0; i < t->len; i++)
        t->w[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
    t->w[t->len] = '\0';
}

/* Split s[0..n) into tokens for cb. A message is tokenized by one call, so
 * its first word starts a sentence. */
static void tokenize(const char *str, size_t n, tok_cb cb, void *ud)
{
    const unsigned char *s = (const unsigned char *)str;
    int sentence_start = 1;
    tok_t t;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (is_alpha(c) && !apostrophe_at(s, n, i)) {
            size_t b = i;
            int later_upper = 0;
            while (i < n && is_alpha(s[i]) && !apostrophe_at(s, n, i)) {
                if (i > b && is_upper(s[i]))
                    later_upper = 1;
                i++;
            }
            size_t e = i, sb = i, se = i;
            size_t ap = i < n ? apostrophe_at(s, n, i) : 0;
            if (ap && i + ap < n && is_alpha(s[i + ap])) {
                sb = i + ap;
                se = sb;
                while (se < n && is_alpha(s[se]) && !apostrophe_at(s, n, se))
                    se++;
                i = se;
            }
            int negated = 0;
            if (se - sb == 1 && (s[sb] == 't' || s[sb] == 'T') && e - b > 1 &&
                (s[e - 1] == 'n' || s[e - 1] == 'N')) {
                negated = 1;
                e--; /* "don't": "do" + "not" */
            }
            set_word(&t, s + b, e - b);
            if (negated && (strcmp(t.w, "ca") == 0 || strcmp(t.w, "wo") == 0 ||
                            strcmp(t.w, "sha") == 0)) {
                static const char *full[] = {"can", "will", "shall"};
                const char *f = full[t.w[0] == 'c' ? 0 : t.w[0] == 'w' ? 1 : 2];
                set_word(&t, (const unsigned char *)f, strlen(f));
            }
            t.entity = (is_upper(s[b]) && !sentence_start && !(e - b == 1 && s[b] == 'I')) ||
                       later_upper;
            emit_word(&t, cb, ud);
            if (negated) {
                set_word(&t, (const unsigned char *)"not", 3);
                t.entity = 0;
                emit_word(&t, cb, ud);
            }
            sentence_start = 0;
            continue;
        }
        if (is_digit(c)) {
            /* digits with inner '.' or ',' before a digit; canonical: no
             * thousands commas, no trailing zeros after the point */
            char buf[TOK_MAX];
            size_t len = 0;
            int point = 0;
            while (i < n) {
                if (is_digit(s[i])) {
                    if (len < TOK_MAX - 1)
                        buf[len++] = (char)s[i];
                } else if ((s[i] == '.' || s[i] == ',') && i + 1 < n && is_digit(s[i + 1])) {
                    if (s[i] == '.' && !point) {
                        point = 1;
                        if (len < TOK_MAX - 1)
                            buf[len++] = '.';
                    } else if (s[i] == '.') {
                        break;
                    }
                } else {
                    break;
                }
                i++;
            }
            if (point) {
                while (len > 0 && buf[len - 1] == '0')
                    len--;
                if (len > 0 && buf[len - 1] == '.')
                    len--;
            }
            memcpy(t.w, buf, len);
            t.w[len] = '\0';
            t.len = len;
            t.kind = TK_NUM;
            t.entity = 0;
            t.lx = NULL;
            cb(ud, &t);
            sentence_start = 0;
            continue;
        }
        if (strchr("+*=%^$#<>&|~@", c) && c != '\0') {
            t.w[0] = (char)c;
            t.w[1] = '\0';
            t.len = 1;
            t.kind = TK_OP;
            t.entity = 0;
            t.lx = NULL;
            cb(ud, &t);
        } else if (c == '-' || c == '/') {
            /* an operator, unless it joins two words ("two-factor", "and/or") */
            int joins = i > 0 && i + 1 < n && is_alpha(s[i - 1]) && is_alpha(s[i + 1]);
            if (!joins) {
                t.w[0] = (char)c;
                t.w[1] = '\0';
                t.len = 1;
                t.kind = TK_OP;
                t.entity = 0;
                t.lx = NULL;
                cb(ud, &t);
            }
        } else if (c == '.' || c == '?' || c == '!' || c == ':' || c == ';' || c == '\n') {
            sentence_start = 1;
        }
        i++;
    }
}

/* ---- the embedder ------------------------------------------------------- */

#define SEED_WORD 0x57u
#define SEED_GRAM 0x47u
#define SEED_PAIR 0x50u
#define SEED_ROLE 0x52u

typedef struct emb {
    float *acc;
    size_t dims;
    float weight;    /* of the message being added */
    uint64_t prev;   /* hash of the previous content token in this message */
    int has_prev;
} emb_t;

static inline void feat(emb_t *e, uint64_t h, float w)
{
    h = sy_mix64(h);
    size_t d = (e->dims & (e->dims - 1)) == 0 ? (size_t)(h & (e->dims - 1)) : (size_t)(h % e->dims);
    e->acc[d] += (h >> 63) ? -w * e->weight : w * e->weight;
}

/* A light stemmer for the embedder's features of words the lexicon does not
 * know: "-ing", "-ed" and "-ly" go, then a final "e", so "calculated",
 * "calculating" and "calculate" give one feature. Returns the length of the
 * stem written to out. */
static size_t stem(const char *w, size_t len, char *out)
{
    memcpy(out, w, len);
    if (len >= 6 && memcmp(out + len - 3, "ing", 3) == 0)
        len -= 3;
    else if (len >= 5 && memcmp(out + len - 2, "ed", 2) == 0)
        len -= 2;
    else if (len >= 5 && memcmp(out + len - 2, "ly", 2) == 0)
        len -= 2;
    if (len >= 4 && out[len - 1] == 'e')
        len--;
    out[len] = '\0';
    return len;
}

static void emb_tok(void *ud, const tok_t *t)
{
    emb_t *e = ud;
    const char *w = t->w;
    size_t len = t->len;
    if (t->lx && t->lx->kind == LX_STOP)
        return;
    if (t->lx && t->lx->kind == LX_NEG) {
        w = "not";
        len = 3;
    }
    char st[TOK_MAX];
    if (t->kind == TK_WORD && !t->lx)
        len = stem(w, len, st), w = st;
    uint64_t hw = sy_fnv1a(sy_fnv1a(SY_FNV_OFFSET, &(unsigned char){SEED_WORD}, 1), w, len);
    feat(e, hw, 1.0f);
    if (t->kind == TK_WORD && len > 1) {
        /* "<word>" n-grams, 3 to 5 bytes, each start's hash extended */
        char b[TOK_MAX + 2];
        b[0] = '<';
        memcpy(b + 1, w, len);
        b[len + 1] = '>';
        size_t bl = len + 2, count = 0;
        for (size_t g = 3; g <= 5; g++)
            if (bl >= g)
                count += bl - g + 1;
        float gw = 1.0f / sqrtf((float)count);
        for (size_t k = 0; k + 3 <= bl; k++) {
            /* the n-gram's bytes packed with its length: one mix per n-gram */
            uint64_t key = 0;
            for (size_t g = 0; g < 5 && k + g < bl; g++) {
                key |= (uint64_t)(unsigned char)b[k + g] << (8 * g);
                if (g >= 2)
                    feat(e, key ^ ((uint64_t)(SEED_GRAM + g) << 56), gw);
            }
        }
    }
    if (e->has_prev) {
        uint64_t hp = sy_fnv1a(SY_FNV_OFFSET, &(unsigned char){SEED_PAIR}, 1);
        hp = sy_fnv1a(hp, &e->prev, sizeof e->prev);
        hp = sy_fnv1a(hp, &hw, sizeof hw);
        feat(e, hp, 1.0f);
    }
    e->prev = hw;
    e->has_prev = 1;
}

static void emb_add(emb_t *e, const char *s, size_t n, float weight)
{
    if (!s || n == 0)
        return;
    e->weight = weight;
    e->has_prev = 0;
    tokenize(s, n, emb_tok, e);
}

static void emb_finish(emb_t *e, float *out)
{
    double norm = 0;
    for (size_t i = 0; i < e->dims; i++) {
        float x = e->acc[i];
        float y = x < 0 ? -sqrtf(-x) : sqrtf(x);
        out[i] = y;
        norm += (double)y * y;
    }
    if (norm > 0) {
        float inv = (float)(1.0 / sqrt(norm));
        for (size_t i = 0; i < e->dims; i++)
            out[i] *= inv;
    }
}

int sy_embed_text(const char *s, size_t n, float *out, size_t dims)
{
    if (dims == 0 || dims > SY_EMBED_MAX_DIMS)
        return SY_EBADFIELD;
    float acc[SY_EMBED_MAX_DIMS];
    memset(acc, 0, dims * sizeof acc[0]);
    emb_t e = {.acc = acc, .dims = dims, .weight = 1.0f};
    emb_add(&e, s, n, 1.0f);
    emb_finish(&e, out);
    return 0;
}

/* Walk everything in q that makes its answer, as (text, weight) segments,
 * each tokenized on its own. The role of each message is one feature too. */
typedef void (*seg_cb)(void *ud, const char *s, size_t n, float weight, int role);

static void creq_walk(const sy_creq_t *q, seg_cb cb, void *ud)
{
    size_t last_user = q->n_msgs;
    for (size_t i = q->n_msgs; i-- > 0;)
        if (q->msgs[i].role == SY_ROLE_USER) {
            last_user = i;
            break;
        }
    for (size_t i = 0; i < q->n_msgs; i++) {
        const sy_msg_t *m = &q->msgs[i];
        float w = i == last_user ? 2.0f : 1.0f;
        cb(ud, NULL, 0, w, (int)m->role);
        for (size_t k = 0; k < m->n_parts; k++) {
            const sy_part_t *p = &m->parts[k];
            if (p->kind == SY_PART_TEXT)
                cb(ud, p->text.p, p->text.len, w, -1);
            else
                cb(ud, p->url.p, p->url.len, w, -1);
        }
        for (size_t k = 0; k < m->n_calls; k++) {
            cb(ud, m->calls[k].name.p, m->calls[k].name.len, w, -1);
            cb(ud, m->calls[k].args.p, m->calls[k].args.len, w, -1);
        }
        if (m->role == SY_ROLE_TOOL)
            cb(ud, m->tool_name.p, m->tool_name.len, w, -1);
    }
    cb(ud, q->suffix.p, q->suffix.len, 1.0f, -1);
    for (size_t i = 0; i < q->n_inputs; i++)
        cb(ud, q->inputs[i].p, q->inputs[i].len, 1.0f, -1);
}

static void emb_seg(void *ud, const char *s, size_t n, float weight, int role)
{
    emb_t *e = ud;
    if (role >= 0) {
        e->weight = 0.5f;
        feat(e, sy_fnv1a(sy_fnv1a(SY_FNV_OFFSET, &(unsigned char){SEED_ROLE}, 1), &role, sizeof role), 1.0f);
        return;
    }
    emb_add(e, s, n, weight);
}

int sy_embed_creq(const sy_creq_t *q, float *out, size_t dims)
{
    if (dims == 0 || dims > SY_EMBED_MAX_DIMS)
        return SY_EBADFIELD;
    float acc[SY_EMBED_MAX_DIMS];
    memset(acc, 0, dims * sizeof acc[0]);
    emb_t e = {.acc = acc, .dims = dims, .weight = 1.0f};
    creq_walk(q, emb_seg, &e);
    emb_finish(&e, out);
    return 0;
}

/* Writes the bytes of the text that fall in [0, head) or [tail, total). */
typedef struct tw {
    char *out;
    size_t at, n; /* position in the whole text; bytes written */
    size_t head, tail;
    int joined;
    int lines; /* a message has started a line */
} tw_t;

static void tw_put(tw_t *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, t->at++) {
        if (t->at < t->head) {
            t->out[t->n++] = s[i];
        } else if (t->at >= t->tail) {
            if (!t->joined && t->tail > t->head) {
                memcpy(t->out + t->n, "\n...\n", 5);
                t->n += 5;
            }
            t->joined = 1;
            t->out[t->n++] = s[i];
        }
    }
}

static void tw_seg(void *ud, const char *s, size_t n, float weight, int role)
{
    tw_t *t = ud;
    (void)weight;
    if (role >= 0) {
        const char *name = sy_role_name((sy_role_t)role);
        if (t->lines)
            tw_put(t, "\n", 1);
        t->lines = 1;
        tw_put(t, name, strlen(name));
        tw_put(t, ": ", 2);
        return;
    }
    if (n) {
        tw_put(t, s, n);
        tw_put(t, " ", 1);
    }
}

size_t sy_embed_creq_text(const sy_creq_t *q, char *out, size_t cap)
{
    tw_t t = {.out = out, .head = SIZE_MAX, .tail = SIZE_MAX};
    char probe;
    /* first pass: the length (nothing is written: head 0, tail past the end) */
    t.out = &probe;
    t.head = 0;
    creq_walk(q, tw_seg, &t);
    size_t total = t.at;
    memset(&t, 0, sizeof(t));
    t.out = out;
    if (total + 1 <= cap) {
        t.head = total;
        t.tail = total;
    } else {
        size_t room = cap - 1 - 5;
        t.head = room / 4;
        t.tail = total - (room - t.head);
    }
    creq_walk(q, tw_seg, &t);
    out[t.n] = '\0';
    return t.n;
}

float sy_embed_dot(const float *a, const float *b, size_t dims)
{
    /* four independent sums: the compiler may not reorder one float sum */
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= dims; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < dims; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* ---- the guards --------------------------------------------------------- */

#define MAX_CONTRAST 64
#define MAX_ENT_SEEN 64

typedef struct fst {
    sy_semfeat_t *f;
    uint64_t numbers;
    uint32_t contrast[MAX_CONTRAST];
    size_t n_contrast;
    uint32_t ents[MAX_ENT_SEEN];
    size_t n_ents;
    unsigned negations;
    int sep; /* a message began since the last number: mark it before the next */
} fst_t;

static void bloom_add(uint64_t words[4], uint64_t h)
{
    h = sy_mix64(h);
    unsigned a = (unsigned)(h & 255), b = (unsigned)((h >> 8) & 255);
    words[a >> 6] |= 1ULL << (a & 63);
    words[b >> 6] |= 1ULL << (b & 63);
}

static void fst_tok(void *ud, const tok_t *t)
{
    fst_t *st = ud;
    uint64_t hw = sy_fnv1a(SY_FNV_OFFSET, t->w, t->len);
    if (t->kind == TK_NUM || t->kind == TK_OP) {
        unsigned char tag = t->kind == TK_NUM ? 'N' : 'O';
        if (st->sep)
            st->numbers = sy_fnv1a(st->numbers, "|", 1);
        st->sep = 0;
        st->numbers = sy_fnv1a(st->numbers, &tag, 1);
        st->numbers = sy_fnv1a(st->numbers, t->w, t->len);
        return;
    }
    bloom_add(st->f->words, hw);
    if (t->lx && t->lx->kind == LX_NEG)
        st->negations++;
    if (t->lx && t->lx->kind == LX_CONTRAST && st->n_contrast < MAX_CONTRAST)
        st->contrast[st->n_contrast++] = (uint32_t)t->lx->val;
    if (t->entity && !(t->lx && t->lx->kind == LX_STOP) && st->n_ents < MAX_ENT_SEEN)
        st->ents[st->n_ents++] = (uint32_t)sy_mix64(hw); /* holds its Bloom probes */
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void fst_init(fst_t *st, sy_semfeat_t *f)
{
    memset(f, 0, sizeof *f);
    memset(st, 0, sizeof *st);
    st->f = f;
    st->numbers = SY_FNV_OFFSET;
}

static void fst_finish(fst_t *st)
{
    sy_semfeat_t *f = st->f;
    f->numbers = st->numbers;
    qsort(st->contrast, st->n_contrast, sizeof st->contrast[0], u32_cmp);
    f->contrast = sy_fnv1a(SY_FNV_OFFSET, st->contrast, st->n_contrast * sizeof st->contrast[0]);
    qsort(st->ents, st->n_ents, sizeof st->ents[0], u32_cmp);
    for (size_t i = 0; i < st->n_ents && f->n_ents < SY_SEMFEAT_MAX_ENTS; i++)
        if (f->n_ents == 0 || f->ents[f->n_ents - 1] != st->ents[i])
            f->ents[f->n_ents++] = st->ents[i];
    f->negations = (uint8_t)(st->negations > 255 ? 255 : st->negations);
}

static void fst_seg(void *ud, const char *s, size_t n, float weight, int role)
{
    if (role >= 0 || !s || n == 0)
        return;
    /* numbers of two messages never run together: "1 || 2" is not "12" */
    fst_t *st = ud;
    st->sep = 1;
    tokenize(s, n, fst_tok, st);
}

void sy_semfeat_text(const char *s, size_t n, sy_semfeat_t *f)
{
    fst_t st;
    fst_init(&st, f);
    fst_seg(&st, s, n, 1.0f, -1);
    fst_finish(&st);
}

void sy_semfeat_creq(const sy_creq_t *q, sy_semfeat_t *f)
{
    fst_t st;
    fst_init(&st, f);
    creq_walk(q, fst_seg, &st);
    fst_finish(&st);
}

/* Whether every name of a is a word of b: a name's 32-bit hash is the low
 * half of its word's mixed hash, whose two low bytes are the Bloom probes. */
static int names_in(const sy_semfeat_t *a, const sy_semfeat_t *b)
{
    for (size_t i = 0; i < a->n_ents; i++) {
        unsigned p1 = a->ents[i] & 255, p2 = (a->ents[i] >> 8) & 255;
        if (!((b->words[p1 >> 6] >> (p1 & 63) & 1) && (b->words[p2 >> 6] >> (p2 & 63) & 1)))
            return 0;
    }
    return 1;
}

sy_semveto_t sy_semfeat_veto(const sy_semfeat_t *a, const sy_semfeat_t *b)
{
    if (a->numbers != b->numbers)
        return SY_SEMVETO_NUMBERS;
    if (a->negations != b->negations)
        return SY_SEMVETO_NEGATION;
    if (!names_in(a, b) || !names_in(b, a))
        return SY_SEMVETO_ENTITY;
    if (a->contrast != b->contrast)
        return SY_SEMVETO_CONTRAST;
    return SY_SEMVETO_NONE;
}

const char *sy_semveto_name(sy_semveto_t v)
{
    switch (v) {
    case SY_SEMVETO_NONE: return "none";
    case SY_SEMVETO_NUMBERS: return "numbers";
    case SY_SEMVETO_NEGATION: return "negation";
    case SY_SEMVETO_ENTITY: return "entity";
    case SY_SEMVETO_CONTRAST: return "contrast";
    }
    return "unknown";
}

int sy_semantic_match(const char *a, size_t an, const char *b, size_t bn, float similarity,
                      float threshold)
{
    if (!(similarity >= threshold))
        return 0;
    sy_semfeat_t fa, fb;
    sy_semfeat_text(a, an, &fa);
    sy_semfeat_text(b, bn, &fb);
    return sy_semfeat_veto(&fa, &fb) == SY_SEMVETO_NONE;
}

/* ---- the labelled evaluation set ---------------------------------------- */

#define PAIR_MAX_TURNS 32

/* One side of a pair as a conversation: turns split at " || ", an optional
 * "role: " prefix, else user - or assistant right after a user turn. */
typedef struct side {
    sy_msg_t msgs[PAIR_MAX_TURNS];
    sy_part_t parts[PAIR_MAX_TURNS];
    sy_creq_t q;
} side_t;

static int side_parse(side_t *sd, const char *s, size_t n)
{
    static const struct {
        const char *prefix;
        sy_role_t role;
    } roles[] = {{"system: ", SY_ROLE_SYSTEM},
                 {"user: ", SY_ROLE_USER},
                 {"assistant: ", SY_ROLE_ASSISTANT},
                 {"tool: ", SY_ROLE_TOOL}};
    sy_creq_init(&sd->q, SY_OP_CHAT, SY_PROTO_OPENAI);
    memset(sd->msgs, 0, sizeof sd->msgs);
    memset(sd->parts, 0, sizeof sd->parts);
    size_t k = 0, i = 0;
    while (i <= n) {
        size_t e = i;
        while (e < n && !(e + 4 <= n && memcmp(s + e, " || ", 4) == 0))
            e++;
        if (k == PAIR_MAX_TURNS || e == i)
            return -1;
        const char *t = s + i;
        size_t tl = e - i;
        int role = -1;
        for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++) {
            size_t pl = strlen(roles[r].prefix);
            if (tl > pl && memcmp(t, roles[r].prefix, pl) == 0) {
                role = (int)roles[r].role;
                t += pl;
                tl -= pl;
                break;
            }
        }
        if (role < 0)
            role = (k > 0 && sd->msgs[k - 1].role == SY_ROLE_USER) ? SY_ROLE_ASSISTANT : SY_ROLE_USER;
        sd->parts[k].kind = SY_PART_TEXT;
        sd->parts[k].text = (sy_str_t){t, tl};
        sd->msgs[k].role = (sy_role_t)role;
        sd->msgs[k].parts = &sd->parts[k];
        sd->msgs[k].n_parts = 1;
        k++;
        i = e + 4;
    }
    sd->q.msgs = sd->msgs;
    sd->q.n_msgs = k;
    return 0;
}

long sy_embed_pairs_score(const char *tsv, size_t n, size_t dims, sy_embed_pair_t *out,
                          size_t max, size_t *bad_line)
{
    if (dims == 0 || dims > SY_EMBED_MAX_DIMS)
        return -1;
    long count = 0;
    size_t line = 0, i = 0;
    float va[SY_EMBED_MAX_DIMS], vb[SY_EMBED_MAX_DIMS];
    side_t sa, sb;
    while (i < n) {
        size_t e = i;
        while (e < n && tsv[e] != '\n')
            e++;
        line++;
        const char *l = tsv + i;
        size_t ll = e - i;
        i = e + 1;
        if (ll > 0 && l[ll - 1] == '\r')
            ll--;
        if (ll == 0 || l[0] == '#')
            continue;
        const char *t1 = memchr(l, '\t', ll);
        const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(l + ll - t1 - 1)) : NULL;
        if (!t1 || !t2 || t1 - l != 1 || (l[0] != '0' && l[0] != '1') ||
            memchr(t2 + 1, '\t', (size_t)(l + ll - t2 - 1)) ||
            side_parse(&sa, t1 + 1, (size_t)(t2 - t1 - 1)) < 0 ||
            side_parse(&sb, t2 + 1, (size_t)(l + ll - t2 - 1)) < 0) {
            if (bad_line)
                *bad_line = line;
            return -1;
        }
        if ((size_t)count < max) {
            sy_semfeat_t fa, fb;
            sy_embed_creq(&sa.q, va, dims);
            sy_embed_creq(&sb.q, vb, dims);
            sy_semfeat_creq(&sa.q, &fa);
            sy_semfeat_creq(&sb.q, &fb);
            out[count].label = l[0] - '0';
            out[count].sim = sy_embed_dot(va, vb, dims);
            out[count].veto = sy_semfeat_veto(&fa, &fb);
            out[count].line = line;
        }
        count++;
    }
    return count;
}

void sy_embed_pairs_count(const sy_embed_pair_t *p, size_t n, float threshold, int guards,
                          sy_embed_counts_t *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        int same = p[i].sim >= threshold && (!guards || p[i].veto == SY_SEMVETO_NONE);
        if (same && p[i].label)
            c->tp++;
        else if (same)
            c->fp++;
        else if (p[i].label)
            c->fn++;
        else
            c->tn++;
    }
}
