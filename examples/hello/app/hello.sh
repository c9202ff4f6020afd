#!/bin/sh
# Printed when the demo image runs.
echo "Hello from an image built by r2k."
