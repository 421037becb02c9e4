package harness

import (
	"context"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// PropellerServiceAccount is who FlytePropeller runs as on a stack with PropellerRoles: flyte-core's
// propeller ServiceAccount.
const (
	propellerAccountNamespace = "flyte"
	propellerAccountName      = "flytepropeller"
	PropellerServiceAccount   = "system:serviceaccount:" + propellerAccountNamespace + ":" + propellerAccountName
)

// PropellerCoreRole is what a stock FlytePropeller needs on this stack (its FlyteWorkflows, the pods of
// pod tasks, pod templates, events): the part flyte-core's chart grants, without anything of actors.
func PropellerCoreRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "flytepropeller-core"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"flyte.lyft.com"}, Resources: []string{"flyteworkflows", "flyteworkflows/finalizers"},
				Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
			{APIGroups: []string{""}, Resources: []string{"podtemplates"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "update", "patch", "delete"}},
		},
	}
}

// bindPropeller binds PropellerCoreRole and roles to PropellerServiceAccount, waits until the API
// server authorizes it, and returns cfg impersonating it.
func bindPropeller(ctx context.Context, admin kubernetes.Interface, cfg *rest.Config, roles []*rbacv1.ClusterRole) (*rest.Config, error) {
	for _, role := range append([]*rbacv1.ClusterRole{PropellerCoreRole()}, roles...) {
		role = role.DeepCopy()
		role.ResourceVersion = ""
		if _, err := admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: propellerAccountName,
				Namespace: propellerAccountNamespace}},
		}
		if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create ClusterRoleBinding %s: %w", role.Name, err)
		}
	}
	// The authorizer reads roles from its informers a moment after they are created.
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		review, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: PropellerServiceAccount,
				ResourceAttributes: &authorizationv1.ResourceAttributes{Group: "flyte.lyft.com", Resource: "flyteworkflows", Verb: "watch"}},
		}, metav1.CreateOptions{})
		return err == nil && review.Status.Allowed, nil
	})
	if err != nil {
		return nil, fmt.Errorf("propeller's roles never took effect: %w", err)
	}
	impersonating := rest.CopyConfig(cfg)
	impersonating.Impersonate = rest.ImpersonationConfig{UserName: PropellerServiceAccount,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + propellerAccountNamespace, "system:authenticated"}}
	return impersonating, nil
}
