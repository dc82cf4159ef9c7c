# The native byte-plane kernels (weft_kernels.c) and, on Linux, the filter client git starts (weft_filter_client.c:
# hands git's pipes to a warm filter process), built by scripts/build-native.mjs with npm's node-gyp against Node's
# installed headers. C only, -O3; SSE2 is the x86-64 baseline, other targets get the plain loops.
{
  'targets': [
    {
      'target_name': 'weft_kernels',
      'sources': ['weft_kernels.c'],
      'cflags': ['-O3', '-std=c11', '-fvisibility=hidden'],
      'ldflags': ['-Wl,-z,noexecstack', '-Wl,-z,relro', '-Wl,-z,now'],
      'xcode_settings': {
        'GCC_OPTIMIZATION_LEVEL': '3',
        'GCC_C_LANGUAGE_STANDARD': 'c11',
        'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',
      },
      'msvs_settings': {
        'VCCLCompilerTool': { 'Optimization': 2 },
      },
    },
    {
      'target_name': 'weft_filter_client',
      'type': 'executable',
      'sources': ['weft_filter_client.c'],
      'cflags': ['-O2', '-std=c11', '-Wall'],
      'ldflags': ['-Wl,-z,noexecstack', '-Wl,-z,relro', '-Wl,-z,now'],
      'conditions': [['OS!="linux"', { 'type': 'none', 'sources': [] }]],
    },
  ],
}
