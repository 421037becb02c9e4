package actorpool

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// PodToken returns the token an executor pod presents in its Hello: an HMAC of the pod's name under
// its environment's secret. Each pod gets only its own token, so a pod (or a task in it) can never
// pose as another pod of its environment, and the secret itself never leaves the pool and the anchor.
func PodToken(secret, pod string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(pod))
	return hex.EncodeToString(mac.Sum(nil))
}
