# Builds Shoal from source into a minimal image FROM scratch.
#   docker build -t shoal .
#   docker run -p 6333:6333 -p 6334:6334 -v shoal_storage:/qdrant/storage shoal
# Where no base image can be pulled, use docker/build-scratch.sh instead
# (same image, from a binary built on the host).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/shoal ./cmd/shoal
RUN mkdir -p /rootfs/qdrant/storage /rootfs/qdrant/snapshots /rootfs/qdrant/config /rootfs/etc/ssl/certs /rootfs/tmp \
 && chmod 1777 /rootfs/tmp \
 && cp docker/config.yaml /rootfs/qdrant/config/config.yaml \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && printf 'root:x:0:0:root:/:/sbin/nologin\nshoal:x:1000:1000:shoal:/qdrant:/sbin/nologin\n' > /rootfs/etc/passwd \
 && printf 'root:x:0:\nshoal:x:1000:\n' > /rootfs/etc/group \
 && chown -R 1000:1000 /rootfs/qdrant

FROM scratch
COPY --from=build /rootfs/ /
COPY --from=build /out/shoal /qdrant/shoal
ENV TZ=Etc/UTC \
    RUN_MODE=production \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /qdrant
USER 1000:1000
VOLUME ["/qdrant/storage", "/qdrant/snapshots"]
EXPOSE 6333 6334
ENTRYPOINT ["/qdrant/shoal"]
