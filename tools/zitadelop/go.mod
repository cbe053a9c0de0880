module github.com/airlock-dev/airlock/tools/zitadelop

go 1.26.0

require github.com/zitadel/oidc/v3 v3.52.0 // indirect
