print("tau")
