"""Built-in knowledge of the cold-start rules (extended by configuration).

* :data:`SLIM_BASES`: official images whose default variant carries a full distribution (compilers,
  headers, docs) next to the slim variant of the same release, with approximate compressed sizes
  of both (Docker Hub, linux/amd64; orders of magnitude for the cost message, not measurements).
  Config ``slim-bases`` adds ``repository: suggestion`` entries.  Ubuntu is not here: its images
  are already minimized (about 30 MB) and have no slim variant.
* :data:`BUILD_PACKAGES`: packages that only a build needs (compilers, headers, build systems).
* :data:`VPC_ENDPOINTS`: public registry endpoints with a same-region/private counterpart.
"""

from __future__ import annotations

import re

MB = 1_000_000

# repository -> (slim tag suffix or replacement, approx compressed MB of the default, of the slim variant)
SLIM_BASES: dict[str, tuple[str, int, int]] = {
    "library/python": ("-slim", 380, 45),
    "library/node": ("-slim", 390, 70),
    "library/debian": ("-slim", 49, 29),
    "library/ruby": ("-slim", 360, 75),
    "library/perl": ("-slim", 330, 40),
    "library/rust": ("-slim", 520, 280),
    "library/buildpack-deps": ("debian:<suite>-slim", 300, 29),
    "library/openjdk": ("eclipse-temurin:<version>-jre", 230, 90),
    "library/eclipse-temurin": ("-jre", 190, 90),
    "library/golang": ("a multi-stage build: compile in golang, run FROM gcr.io/distroless/static or alpine", 290, 3),
    "library/maven": ("a multi-stage build: build in maven, run FROM eclipse-temurin:<version>-jre", 280, 90),
    "library/gradle": ("a multi-stage build: build in gradle, run FROM eclipse-temurin:<version>-jre", 420, 90),
}
#: tag words that already mean a small variant
SLIM_WORDS = ("slim", "alpine", "distroless", "minimal", "jre", "runtime", "busybox", "chiselled", "micro",
              "scratch", "nanoserver", "windowsservercore")

# package names (or patterns) that are build tools; a match in the final image is IMG103
BUILD_PACKAGES = re.compile(
    r"^(build-essential|build-base|gcc|gcc-\d+|gcc-c\+\+|gcc-gfortran|g\+\+|g\+\+-\d+|c\+\+|clang|clang-\d+|llvm|llvm-\d+|make|cmake|"
    r"ninja|ninja-build|autoconf|automake|libtool|pkg-config|pkgconf|bison|flex|gfortran|musl-dev|libc6-dev|"
    r"libc-dev|linux-headers|linux-libc-dev|kernel-headers|kernel-devel|golang|golang-go|rustc|cargo|"
    r"default-jdk|default-jdk-headless|openjdk-\d+-jdk|openjdk-\d+-jdk-headless|maven|gradle|"
    r"[a-z0-9.+-]+-dev|[a-z0-9.+-]+-devel|@development-tools|development-tools|\"?@?Development Tools\"?)$")
# ...but these -dev names are runtime packages
NOT_BUILD = frozenset({"udev", "libudev", "libudev1", "ca-certificates", "python3-venv", "libc-bin", "libdevmapper1.02.1"})

# (public endpoint pattern, replacement template, what to say)
VPC_ENDPOINTS = (
    (re.compile(r"^registry\.([a-z0-9-]+)\.aliyuncs\.com$"), r"registry-vpc.\1.aliyuncs.com",
     "Alibaba Cloud ACR: the VPC endpoint of the same region is free of internet egress and closer"),
    (re.compile(r"^([a-z0-9-]+)-registry\.([a-z0-9-]+)\.cr\.aliyuncs\.com$"), r"\1-registry-vpc.\2.cr.aliyuncs.com",
     "Alibaba Cloud ACR Enterprise: use the instance's VPC endpoint of the same region"),
    (re.compile(r"^public\.ecr\.aws$"), "<account>.dkr.ecr.<region>.amazonaws.com/<pull-through-prefix>",
     "Amazon ECR Public: an ECR pull-through cache rule (or a private repository) in your region serves "
     "the same image from a same-region endpoint"),
)


__all__ = ["SLIM_BASES", "SLIM_WORDS", "BUILD_PACKAGES", "NOT_BUILD", "VPC_ENDPOINTS", "MB"]
