document.getElementById("title").textContent = "Hello from tau (scripted)";
