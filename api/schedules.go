package api

// Scheduler is what the API needs of the schedule service.
type Scheduler interface{}

func (s *Server) registerSchedules() {}
