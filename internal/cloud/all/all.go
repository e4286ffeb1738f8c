// Package all links every cloud controller into the binary; import it for its side effect.
package all

import (
	_ "github.com/nagare-video/nagare/internal/cloud/aws"        // EC2 instances
	_ "github.com/nagare-video/nagare/internal/cloud/docker"     // containers on a Docker Engine
	_ "github.com/nagare-video/nagare/internal/cloud/kubernetes" // one Pod per node
	_ "github.com/nagare-video/nagare/internal/cloud/process"    // local nagare node processes
	_ "github.com/nagare-video/nagare/internal/cloud/sim"        // simulated cloud for tests and benchmarks
)
