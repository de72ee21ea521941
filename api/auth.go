package api

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/tenantflow/tenantflow/platform/auth"
)

// Verifier checks a bearer token. It must be safe for concurrent use.
type Verifier interface {
	Verify(token string) (*auth.Claims, error)
}

type claimsKey struct{}

// authenticate answers 401 without a valid bearer token; otherwise the
// claims travel in the request's context. The handler checks what the
// token may do.
func (rt *Router) authenticate(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || rt.verifier == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tenantflow"`)
			writeProblem(w, problem{Status: http.StatusUnauthorized, Detail: "a bearer token is required"})
			return
		}
		claims, err := rt.verifier.Verify(strings.TrimSpace(raw))
		if err != nil && rt.tenantAdmins != nil {
			claims, err = rt.tenantAdmins.Verify(strings.TrimSpace(raw))
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tenantflow", error="invalid_token"`)
			writeProblem(w, problem{Status: http.StatusUnauthorized, Detail: "the bearer token is invalid or expired"})
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
	}
}

// require is authenticate plus one permission: 403 without it.
func (rt *Router) require(permission string, next http.HandlerFunc) http.HandlerFunc {
	return rt.authenticate(func(w http.ResponseWriter, r *http.Request) {
		if !claimsOf(r).Has(permission) {
			writeProblem(w, problem{Status: http.StatusForbidden, Detail: "the token lacks permission " + permission})
			return
		}
		next(w, r)
	})
}

// requireOrAdminOf is require, or a tenant administrator's token for the
// tenant the path names ({id}): 403 for any other tenant's.
func (rt *Router) requireOrAdminOf(permission string, next http.HandlerFunc) http.HandlerFunc {
	return rt.authenticate(func(w http.ResponseWriter, r *http.Request) {
		c := claimsOf(r)
		if id, ok := tenantID(r); !c.Has(permission) && (!ok || !slices.Contains(c.Tenants, id)) {
			detail := "the token lacks permission " + permission
			if len(c.Tenants) > 0 {
				detail = "a tenant administrator's token opens its own tenant only"
			}
			writeProblem(w, problem{Status: http.StatusForbidden, Detail: detail})
			return
		}
		next(w, r)
	})
}

func claimsOf(r *http.Request) *auth.Claims {
	c, _ := r.Context().Value(claimsKey{}).(*auth.Claims)
	return c
}
