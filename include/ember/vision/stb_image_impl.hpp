// ember/vision/stb_image_impl.hpp - stb_image compiled privately into ember (static functions, ember's own copy).
// STB_IMAGE_STATIC makes every stbi_ function internal to each translation unit, so a user's own copy of stb_image
// cannot clash with it. Debian's libstb-dev puts it at <stb/stb_image.h>; elsewhere it is often <stb_image.h>.
//
// Note [private stb_image]: stb_image.h declares its API inside an include guard and compiles the implementation
// whenever STB_IMAGE_IMPLEMENTATION is defined. So, in a translation unit that includes an ember vision header:
//  - stb_image.h must not have been included before it: its declarations would then be `extern`, and ember's
//    implementation would export stbi_* symbols that clash with the user's own copy at link time (caught below);
//  - the user must not define STB_IMAGE_IMPLEMENTATION and include stb_image.h again after it (the compiler reports
//    the redefinitions). Put your own stb_image implementation in a translation unit without ember's vision headers.
// Only the formats Keras' image_dataset_from_directory reads are compiled: JPEG, PNG, BMP and GIF.
#pragma once

#ifndef EMBER_STB_IMAGE_INCLUDED
#define EMBER_STB_IMAGE_INCLUDED

#ifdef STBI_INCLUDE_STB_IMAGE_H
#error "ember: stb_image.h was included before an ember/vision header; include ember's vision headers first (see Note [private stb_image] in ember/vision/stb_image_impl.hpp)"
#endif
#if defined(STBI_NO_JPEG) || defined(STBI_NO_PNG) || defined(STBI_NO_BMP) || defined(STBI_NO_GIF) || defined(STBI_ONLY_JPEG) || \
    defined(STBI_ONLY_PNG) || defined(STBI_ONLY_BMP) || defined(STBI_ONLY_GIF)
#error "ember: an STBI_NO_* / STBI_ONLY_* macro is defined; ember's data stage needs stb_image's JPEG, PNG, BMP and GIF decoders"
#endif

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_NO_PIC
#define STBI_NO_PNM
#define STBI_NO_PSD
#define STBI_NO_TGA

// stb_image is C written for many compilers; its warnings are not ember's to fix.
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#if defined(__clang__)
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wcomma"
#pragma GCC diagnostic ignored "-Wextra-semi-stmt"
#pragma GCC diagnostic ignored "-Wdisabled-macro-expansion"
#endif
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wcast-align"
#pragma GCC diagnostic ignored "-Wuseless-cast"
#pragma GCC diagnostic ignored "-Wzero-as-null-pointer-constant"
#pragma GCC diagnostic ignored "-Wpedantic"
#elif defined(_MSC_VER)
#pragma warning(push, 0)
#endif

#if __has_include(<stb/stb_image.h>)
#include <stb/stb_image.h>
#elif __has_include(<stb_image.h>)
#include <stb_image.h>
#else
#error "ember's data stage needs stb_image.h (Debian/Ubuntu: apt-get install libstb-dev)"
#endif

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#elif defined(_MSC_VER)
#pragma warning(pop)
#endif

#undef STB_IMAGE_IMPLEMENTATION
#endif  // EMBER_STB_IMAGE_INCLUDED
