// The node: config, service wiring, lifecycle, admin API.
import Repo
