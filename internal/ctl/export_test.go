package ctl

// SetVODListPage makes `vod ls` ask for pages of n videos; it returns the function that undoes it. Call
// it only while no test runs `vod ls`.
func SetVODListPage(n int) (restore func()) {
	old := vodListPage
	vodListPage = n
	return func() { vodListPage = old }
}
