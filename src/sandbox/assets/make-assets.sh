#!/bin/sh
# Regenerates the sandbox's sample videos: real, playable 3 s clips (H.264 + AAC, 24 fps, 720p)
# in both orientations, small enough to commit. The sandbox serves landscape.mp4 for 16:9 jobs
# and portrait.mp4 for 9:16 jobs.
# Usage: sh src/sandbox/assets/make-assets.sh   (needs ffmpeg with libx264)
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
FFMPEG=${FFMPEG:-ffmpeg}

make() {
  # $1 = output file, $2 = WxH
  "$FFMPEG" -y -hide_banner -loglevel error \
    -f lavfi -i "testsrc2=size=$2:rate=24:duration=3" \
    -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=3" \
    -map 0:v -map 1:a \
    -c:v libx264 -preset veryslow -crf 46 -pix_fmt yuv420p -profile:v high -g 240 \
    -c:a aac -b:a 32k -ac 1 \
    -shortest -movflags +faststart -map_metadata -1 -fflags +bitexact \
    "$dir/$1"
}

make landscape.mp4 1280x720
make portrait.mp4 720x1280
ls -l "$dir"/landscape.mp4 "$dir"/portrait.mp4
