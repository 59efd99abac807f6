package lobby_test

func runChild(role string, args []string) int { return 2 }
