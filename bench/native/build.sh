#!/bin/sh
# Builds the prototype BLAS addon next to this script (needs g++, Node headers and libopenblas-dev).
set -e
cd "$(dirname "$0")"
NODE_INC="${NODE_INC:-$(dirname "$(dirname "$(command -v node)")")/include/node}"
[ -f "$NODE_INC/node_api.h" ] || NODE_INC=/usr/include/node
mkdir -p build
g++ -O2 -shared -fPIC -std=c++17 -DNODE_GYP_MODULE_NAME=blas -I"$NODE_INC" blas.cc -o build/blas.node -lopenblas
echo "built $(pwd)/build/blas.node"
