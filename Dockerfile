# Image for tenantd, used by docker-compose.yml. Not used by the dev stack.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY internal/loadgen/go.mod internal/loadgen/go.mod
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/tenantd ./cmd/tenantd && \
    CGO_ENABLED=0 go build -trimpath -o /out/tenantctl ./cmd/tenantctl

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tenantd /out/tenantctl /usr/local/bin/
EXPOSE 14000
ENTRYPOINT ["/usr/local/bin/tenantd"]
