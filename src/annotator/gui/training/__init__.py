"""Model ▸ Train on this project…: training rounds run in a child process, and the models they leave."""
