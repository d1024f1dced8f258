// stb_image's decoders compiled into the fuzzers with their instrumentation (the main build links
// Debian's libstb, which AddressSanitizer cannot see into).
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>
